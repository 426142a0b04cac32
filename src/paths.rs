//! Lexical path arithmetic (no file system access): shared by the checker, which resolves
//! imports and template paths, and the CLI, which shows paths relative to the current folder.

/// Lexically normalises `a/./b/../c` to `a/c` (absolute paths stay absolute).
pub fn normalize(p: &std::path::Path) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut absolute = false;
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::RootDir | std::path::Component::Prefix(_) => absolute = true,
            std::path::Component::ParentDir => {
                if out.last().is_some_and(|l| l != "..") {
                    out.pop();
                } else if !absolute {
                    out.push("..".into());
                }
            }
            std::path::Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
        }
    }
    match (absolute, out.is_empty()) {
        (true, _) => format!("/{}", out.join("/")),
        (false, true) => ".".into(),
        (false, false) => out.join("/"),
    }
}

/// `path`, written relative to folder `from`, as a path relative to folder `to` (both
/// folders relative to the same base). Absolute paths stay as they are.
pub fn rebase(path: &str, from: &str, to: &str) -> String {
    if path.starts_with('/') || from == to {
        return path.to_string();
    }
    let target = normalize(&std::path::Path::new(from).join(path));
    let to = normalize(std::path::Path::new(to));
    let t: Vec<&str> = target.split('/').filter(|s| *s != ".").collect();
    let b: Vec<&str> = to.split('/').filter(|s| *s != ".").collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: Vec<&str> = vec![".."; b.len() - common];
    out.extend(&t[common..]);
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize, rebase};

    #[test]
    fn normalizes_and_rebases_paths() {
        assert_eq!(normalize(std::path::Path::new("/tmp/a/../b")), "/tmp/b");
        assert_eq!(normalize(std::path::Path::new("a/./b/../c")), "a/c");
        assert_eq!(normalize(std::path::Path::new("../x")), "../x");
        assert_eq!(rebase("./assets", "lib", ""), "lib/assets");
        assert_eq!(rebase("./assets", "ci/lib", "ci"), "lib/assets");
        assert_eq!(rebase("../x", "lib", "app"), "../x");
        assert_eq!(rebase("a", "x", "y/z"), "../../x/a");
        assert_eq!(rebase("/abs", "x", "y"), "/abs");
    }
}
