//! `pipec init [DIR]`: a starting pipeline for the project in DIR (Cargo, npm, Python, or a
//! plain folder), built from the standard library's templates: source, build, test, and a
//! deploy behind an approval whose script is a placeholder that says what to replace.

use std::path::{Path, PathBuf};

use super::error::{Error, Outcome};

/// Write a starting pipeline for the project in a folder.
///
/// Looks at DIR (default: the current folder) for `Cargo.toml`, `package.json`,
/// `pyproject.toml`/`requirements.txt`/`setup.py`, and writes `DIR/pipeline.pipe`: a source
/// stage that snapshots the folder, build and test stages from `std/rust`, `std/node` or
/// `std/python` (placeholders for a plain folder), and a deploy stage behind an approval,
/// whose script says what to replace. The file checks clean and runs as written. An
/// existing file is never overwritten.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pipec init                        a pipeline for the project here: ./pipeline.pipe\n  pipec init ../service --name api  for another folder, with a pipeline name of your choice\n  pipec run pipeline.pipe           then: build and test, held before deploying (exit 3)\n  pipec approve last release.approve && pipec resume last\n\nExit status: 0 written, 2 the file already exists, the folder does not, or it cannot be written."
)]
pub(crate) struct Args {
    /// The project's folder.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The pipeline's name (default: from the folder's name).
    #[arg(long)]
    name: Option<String>,
    /// The file to write, relative to DIR.
    #[arg(
        long,
        short = 'o',
        default_value = "pipeline.pipe",
        value_name = "FILE"
    )]
    file: PathBuf,
}

/// What kind of project a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Project {
    Cargo,
    Npm,
    Python,
    Plain,
}

impl Project {
    fn detect(dir: &Path) -> Project {
        let has = |name: &str| dir.join(name).is_file();
        if has("Cargo.toml") {
            Project::Cargo
        } else if has("package.json") {
            Project::Npm
        } else if has("pyproject.toml") || has("requirements.txt") || has("setup.py") {
            Project::Python
        } else {
            Project::Plain
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Project::Cargo => "a Cargo project",
            Project::Npm => "an npm project",
            Project::Python => "a Python project",
            Project::Plain => "a folder with no build tool pipec knows",
        }
    }
}

pub(crate) fn run(args: &Args) -> Outcome {
    if !args.dir.is_dir() {
        return Err(Error::usage(format!(
            "`{}` is not a folder",
            args.dir.display()
        )));
    }
    let target = args.dir.join(&args.file);
    let project = Project::detect(&args.dir);
    let name = match &args.name {
        Some(n) => identifier(n),
        None => identifier(&folder_name(&args.dir)),
    };
    let shown = super::files::display_name(&target);
    let text = pipeline(project, &name, &args.dir, &shown);
    // The formatter's layout, so `pipec fmt --check` passes on it.
    let text = crate::format_source(&text).map_err(|_| {
        Error::internal(format!(
            "the pipeline `pipec init` wrote for {} does not parse",
            project.describe()
        ))
    })?;
    write_new(&target, &text)?;
    super::output::say(&format!(
        "wrote `{shown}` for {} (pipeline `{name}`)",
        project.describe()
    ));
    for note in notes(project, &args.dir) {
        super::output::say(&format!("note: {note}"));
    }
    super::output::say(&format!(
        "next: `pipec check {shown}`, then `pipec run {shown}` (it holds before deploying: `pipec approve last release.approve` and `pipec resume last`)"
    ));
    Ok(super::exit::OK)
}

/// Creates `path` with `text`, refusing an existing file (never overwritten, even by a race).
fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write as _;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::usage(format!(
                "`{}` already exists; `pipec init` never overwrites a file",
                super::files::display_name(path)
            ))
            .help("move it away, or write another file with `--file NAME.pipe`"));
        }
        Err(e) => {
            return Err(Error::usage(format!(
                "cannot create `{}`: {e}",
                path.display()
            )));
        }
    };
    file.write_all(text.as_bytes())
        .map_err(|e| Error::usage(format!("cannot write `{}`: {e}", path.display())))
}

fn folder_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .ok()
        .and_then(|d| {
            crate::paths::normalize(&d)
                .rsplit('/')
                .find(|s| !s.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// A pipeline name from any text: letters, digits and `_`, not starting with a digit.
fn identifier(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.trim_matches('_').is_empty() {
        return "app".to_string();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// What the user should know about the project before the first run.
fn notes(project: Project, dir: &Path) -> Vec<String> {
    let mut notes = Vec::new();
    match project {
        Project::Cargo if !dir.join("Cargo.lock").is_file() => notes.push(
            "`rust.build` and `rust.test` build with `--locked`: commit a `Cargo.lock` (`cargo generate-lockfile`)".to_string(),
        ),
        Project::Npm if !dir.join("package-lock.json").is_file() => notes.push(
            "`node.ci` installs with `npm ci`, which needs a `package-lock.json` (`npm install` writes it)".to_string(),
        ),
        Project::Python => notes.push(
            "`python.pytest` runs `python -m pytest`: list `pytest` in `requirements.txt`".to_string(),
        ),
        _ => {}
    }
    notes
}

/// The folders the source snapshot leaves out, by project.
fn excludes(project: Project) -> &'static str {
    match project {
        Project::Cargo => r#"["target/**", ".git/**", ".pipec/**"]"#,
        Project::Npm => r#"["node_modules/**", "dist/**", ".git/**", ".pipec/**"]"#,
        Project::Python => r#"[".venv/**", "**/__pycache__/**", ".git/**", ".pipec/**"]"#,
        Project::Plain => r#"[".git/**", ".pipec/**"]"#,
    }
}

/// The pipeline's text (formatted afterwards).
fn pipeline(project: Project, name: &str, dir: &Path, file: &str) -> String {
    let (import, build, test) = stages(project, dir);
    format!(
        r#"// A starting pipeline written by `pipec init` for {what}.
// Check it with `pipec check {file}`, run it with `pipec run {file}`; the deploy
// stage waits for an approval: `pipec approve last release.approve`, then
// `pipec resume last`. The language: docs/language.md of pipec.
{import}
pipeline {name} {{
  stage source {{
    // A snapshot of this folder (what the later stages build and test).
    action checkout: dir {{ path = "."  exclude = {excludes}  output = src }}
  }}

  stage build {{
{build}
  }}

  stage test {{
{test}
  }}

  stage release {{
    action approve: approval {{ summary = "deploy this build?"  timeout = 1d }}
  }}

  stage deploy {{
    on failure rollback
    action ship: sh {{
      input = src
      // A placeholder: replace this script with your deploy command (for instance
      // `rsync -a ./ host:/srv/app/` or `kubectl apply -f deploy/`).
      run = """
        set -eu
        echo 'placeholder deploy: nothing was deployed.'
        echo 'replace the script of action deploy.ship in {file} with your deploy command.'
        """
    }}
  }}
}}
"#,
        what = project.describe(),
        excludes = excludes(project),
    )
}

/// The import line and the build and test stages' actions.
fn stages(project: Project, dir: &Path) -> (&'static str, String, String) {
    match project {
        Project::Cargo => (
            "import \"std/rust\"\n",
            "    action compile: rust.build { input = src }".to_string(),
            "    action unit: rust.test { input = src }".to_string(),
        ),
        Project::Npm => {
            let scripts = npm_scripts(dir);
            let build = if scripts.iter().any(|s| s == "build") {
                "    action install: node.ci { input = src  output = modules from \"node_modules\" }\n    action bundle: node.build { after = [install]  inputs = [src, modules] }"
            } else {
                "    action install: node.ci { input = src  output = modules from \"node_modules\" }"
            };
            let test = if scripts.iter().any(|s| s == "test") {
                "    action unit: node.test { inputs = [src, modules] }".to_string()
            } else {
                placeholder("test", "`npm test` (add a `test` script to package.json)")
            };
            ("import \"std/node\"\n", build.to_string(), test)
        }
        Project::Python => {
            let requirements = if dir.join("requirements.txt").is_file() {
                "requirements.txt"
            } else {
                ""
            };
            let build = if requirements.is_empty() {
                placeholder("build", "`pip install .` or `python -m build`")
            } else {
                "    action env: python.venv { input = src  output = venv from \".venv\" }"
                    .to_string()
            };
            let test = if requirements.is_empty() {
                "    action unit: python.pytest { input = src }".to_string()
            } else {
                "    action unit: python.pytest { inputs = [src, venv] }".to_string()
            };
            ("import \"std/python\"\n", build, test)
        }
        Project::Plain => (
            "",
            placeholder("build", "`make` or your build script"),
            placeholder("test", "`make test` or your test script"),
        ),
    }
}

/// An action that says what to put in its place (and succeeds, so the pipeline runs).
fn placeholder(stage: &str, example: &str) -> String {
    let category = if stage == "test" {
        "  category = test"
    } else {
        ""
    };
    let example = example.replace('`', "");
    format!(
        "    // A placeholder: replace this script with your {stage} command ({example}).\n    action {stage}: sh {{\n      input = src{category}\n      run = \"echo 'placeholder {stage}: replace the script of action {stage}.{stage} with your {stage} command'\"\n    }}"
    )
}

/// The script names of `package.json` (none when it cannot be read).
fn npm_scripts(dir: &Path) -> Vec<String> {
    let Ok(text) = super::files::read_value(&dir.join("package.json")) else {
        return Vec::new();
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    json.get("scripts")
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                // `npm init`'s placeholder test fails on purpose: not a test suite.
                .filter(|(_, v)| {
                    !v.as_str()
                        .is_some_and(|s| s.contains("Error: no test specified"))
                })
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::identifier;

    #[test]
    fn a_folder_name_becomes_a_pipeline_name() {
        assert_eq!(identifier("my-app"), "my_app");
        assert_eq!(identifier("2048"), "_2048");
        assert_eq!(identifier("..."), "app");
        assert_eq!(identifier("Web.Site"), "web_site");
    }
}
