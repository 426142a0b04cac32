use std::collections::BTreeMap;

use super::{EvalError, Scope, Script, Value, eval, render_script};
use crate::ir::{Expr, Part, Ref};

struct Fixed(BTreeMap<String, Value>);

impl Scope for Fixed {
    fn param(&self, name: &str) -> Option<Value> {
        self.0.get(name).cloned()
    }
    fn secret(&self, _: &str) -> Option<String> {
        None
    }
    fn export(&self, stage: &str, action: &str, name: &str) -> Option<String> {
        (stage == "build" && action == "pkg" && name == "version").then(|| "1.2.3".into())
    }
    fn run_field(&self, field: &str) -> Option<Value> {
        (field == "branch").then(|| Value::Str("main".into()))
    }
    fn stage_status(&self, _: &str) -> Option<String> {
        None
    }
    fn env_var(&self, _: &str) -> Option<String> {
        None
    }
    fn read_file(&self, path: &str) -> Result<String, String> {
        Err(format!("no {path}"))
    }
}

fn scope(params: &[(&str, Value)]) -> Fixed {
    Fixed(
        params
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
    )
}

fn param(name: &str) -> Expr {
    Expr::Ref(Ref::Param { name: name.into() })
}

fn text(t: &str) -> Part {
    Part::Text(t.into())
}

/// Runs a rendered script with bash (its args in the environment) and returns its stdout:
/// the proof that data stays data.
fn bash(script: &Script) -> String {
    #[allow(clippy::disallowed_methods)] // Reason: the test executes the rendered script.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script.text)
        .envs(script.args.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("bash runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn hostile_values_are_never_executed_in_any_shell_context() {
    let marker = tempfile::tempdir().expect("tmp");
    let m = marker.path().join("pwned");
    let m = m.display();
    let hostile =
        format!("$(touch {m}) `touch {m}` ; touch {m} ' \" \\ \n EOT \n touch {m} \n done");
    let s = scope(&[("x", Value::Str(hostile.clone()))]);
    // (before, after, whether the value must come out as exactly one `%s|` word)
    let contexts = [
        ("printf '%s|' ", "", true),
        ("printf '%s|' 'in single ", "'", true),
        ("printf '%s|' \"in double ", "\"", true),
        ("printf '%s|' \"$(printf '%s' \"", "\")\"", true),
        ("printf '%s|' \"`printf '%s' \"", "\"`\"", true),
        ("printf '%s|' $'ansi \\' ", " quote'", true),
        ("cat <<EOT\n", "\nEOT\n", false),
        ("cat <<-EOT; printf '%s|' ", "\n\tbody\n\tEOT\n", true),
        ("echo 1 # a comment with it's ", "\nprintf '%s|' ok", false),
        ("echo $((1<<2)) >/dev/null\nprintf '%s|' ", "", true),
        ("echo \"$(case a in a) printf '%s|' ", ";; esac)\"", true),
        (
            "v=$(cat <<EOF\nit's ",
            "\nEOF\n)\nprintf '%s|' \"$v\"",
            true,
        ),
        ("[[ ", " == x ]] || printf '%s|' ok", false),
    ];
    for (before, after, one_word) in contexts {
        let parts = vec![text(before), Part::Expr(param("x")), text(after)];
        let script = render_script(&parts, &s).expect("renders");
        assert!(
            !script.text.contains("touch"),
            "the value is not in the text: {}",
            script.text
        );
        let out = bash(&script);
        assert!(
            !marker.path().join("pwned").exists(),
            "executed: {} => {out}",
            script.text
        );
        if one_word {
            assert_eq!(
                out.matches('|').count(),
                1,
                "one word: {} => {out}",
                script.text
            );
            assert!(out.contains(&hostile), "{} => {out}", script.text);
        }
    }
    // In a here-document nothing is split: the value comes out whole.
    let parts = vec![
        text("cat <<EOT\n["),
        Part::Expr(param("x")),
        text("]\nEOT\n"),
    ];
    let script = render_script(&parts, &s).expect("renders");
    assert_eq!(bash(&script), format!("[{hostile}]\n"));
    // Where nothing expands (a quoted delimiter), interpolation is refused.
    let parts = vec![
        text("cat <<'EOT'\n"),
        Part::Expr(param("x")),
        text("\nEOT\n"),
    ];
    assert!(render_script(&parts, &s).is_err());
}

#[test]
fn only_numbers_go_where_bash_evaluates_arithmetic() {
    let s = scope(&[
        ("x", Value::Str("a[$(touch pwned)]".into())),
        ("n", Value::Int(41)),
    ]);
    for (before, after) in [
        ("echo $(( ", " + 1 ))"),
        ("(( ", " > 0 )) && echo"),
        ("echo $[ ", " ]"),
        ("[[ ", " -eq 0 ]]"),
        ("[[ 0 -lt ", " ]]"),
    ] {
        let with = |name: &str| vec![text(before), Part::Expr(param(name)), text(after)];
        let e = render_script(&with("x"), &s).expect_err("refused");
        assert!(e.to_string().contains("arithmetic"), "{e}");
        let script = render_script(&with("n"), &s).expect("an int is fine");
        assert!(!script.text.contains("41"), "{}", script.text);
    }
    let script = render_script(
        &[text("echo $(( "), Part::Expr(param("n")), text(" + 1 ))")],
        &s,
    )
    .expect("renders");
    assert_eq!(bash(&script), "42\n");
    // A string comparison in `[[ … ]]` is not arithmetic.
    let script = render_script(
        &[
            text("[[ "),
            Part::Expr(param("x")),
            text(" == a* ]] && echo yes"),
        ],
        &s,
    )
    .expect("renders");
    assert_eq!(bash(&script), "yes\n");
}

#[test]
fn strings_are_refused_wherever_bash_evaluates_arithmetic() {
    let s = scope(&[
        ("x", Value::Str("a[$(touch pwned)]".into())),
        ("n", Value::Int(3)),
    ]);
    for (before, after) in [
        ("[[ \"", "\" -eq 1 ]]"),
        ("echo $(( \"", "\" + 1 ))"),
        ("echo \"${a[", "]}\""),
        ("while((", " > 5)); do :; done"),
        ("for((i=0;i<", ";i++)); do :; done"),
        ("echo `((", "))`"),
        ("cat <<EOF\n$(( ", " ))\nEOF\n"),
        ("cat <<EOF\n$[ ", " ]\nEOF\n"),
        ("[[ ", "\"\" -eq 1 ]]"),
        ("[[ 1 -eq \"\"", " ]]"),
        ("[[ 1 -eq -", " ]]"),
        ("echo ${a[", "]}"),
        ("a[", "]=1"),
        ("echo ${#a[", "]}"),
        ("echo ${s:", "}"),
        ("let ", ""),
        ("declare -i v=", ""),
        ("local -ai v=", ""),
    ] {
        let parts = |name: &str| vec![text(before), Part::Expr(param(name)), text(after)];
        let e = render_script(&parts("x"), &s).expect_err(before);
        assert!(e.to_string().contains("arithmetic"), "{before}: {e}");
        render_script(&parts("n"), &s).unwrap_or_else(|e| panic!("{before}: an int is fine: {e}"));
    }
    // Not arithmetic: defaults, string tests, ordinary words.
    for (before, after) in [
        ("echo ${v:-", "}"),
        ("[[ ", " == a* ]]"),
        ("echo x[", "]"),
        ("declare -r v=", ""),
        ("echo let ", ""),
    ] {
        let parts = vec![text(before), Part::Expr(param("x")), text(after)];
        render_script(&parts, &s).unwrap_or_else(|e| panic!("{before}: {e}"));
    }
}

#[test]
fn values_stay_whole_words_in_substitutions_of_here_documents() {
    let s = scope(&[
        (
            "l",
            Value::List(vec![Value::Str("p q".into()), Value::Str("r".into())]),
        ),
        ("x", Value::Str("a b".into())),
    ]);
    let script = render_script(
        &[
            text("cat <<EOF\n$(printf '<%s>' "),
            Part::Expr(param("l")),
            text(")\nEOF\n"),
        ],
        &s,
    )
    .expect("renders");
    assert_eq!(bash(&script), "<p q><r>\n");
    // A `#` right after a value is part of its word, not a comment.
    let script = render_script(
        &[
            text("printf '<%s>' "),
            Part::Expr(param("x")),
            text("#\"\n "),
            Part::Expr(param("l")),
            text(" \""),
        ],
        &s,
    )
    .expect("renders");
    // (The list's elements are words of their own, joined to the text around them.)
    assert_eq!(bash(&script), "<a b#\n p q><r >");
}

#[test]
fn lists_become_one_word_per_element() {
    let s = scope(&[(
        "xs",
        Value::List(vec![Value::Str("a b".into()), Value::Str("$(c)".into())]),
    )]);
    let script =
        render_script(&[text("printf '%s|' "), Part::Expr(param("xs"))], &s).expect("renders");
    assert_eq!(bash(&script), "a b|$(c)|");
    let script = render_script(
        &[
            text("printf '%s|' \"<"),
            Part::Expr(param("xs")),
            text(">\""),
        ],
        &s,
    )
    .expect("renders");
    assert_eq!(bash(&script), "<a b|$(c)>|");
}

#[test]
fn strings_interpolate_text_and_conditions_short_circuit() {
    let s = scope(&[("n", Value::Int(3)), ("d", Value::Duration(5400))]);
    let e = Expr::Interp {
        parts: vec![
            text("n="),
            Part::Expr(param("n")),
            text(" d="),
            Part::Expr(param("d")),
        ],
        script: false,
    };
    assert_eq!(eval(&e, &s), Ok(Value::Str("n=3 d=1h30m".into())));
    // `false && <unknown>` is false without evaluating the unknown side.
    let unknown = Expr::Ref(Ref::Export {
        stage: "deploy".into(),
        action: "x".into(),
        name: "y".into(),
    });
    let and = Expr::Binary {
        op: crate::ir::BinOp::And,
        lhs: Box::new(Expr::Bool { value: false }),
        rhs: Box::new(unknown.clone()),
    };
    assert_eq!(eval(&and, &s), Ok(Value::Bool(false)));
    assert_eq!(
        eval(&unknown, &s),
        Err(EvalError::Unknown("deploy.x.y".into()))
    );
}

#[test]
fn references_and_functions() {
    let s = scope(&[("env", Value::Str("Prod".into()))]);
    let call = |f: &str, args: Vec<Expr>| Expr::Call {
        func: f.into(),
        args,
    };
    assert_eq!(
        eval(&call("lower", vec![param("env")]), &s),
        Ok(Value::Str("prod".into()))
    );
    let export = Expr::Ref(Ref::Export {
        stage: "build".into(),
        action: "pkg".into(),
        name: "version".into(),
    });
    assert_eq!(
        eval(
            &call(
                "starts_with",
                vec![export, Expr::Str { value: "1.".into() }]
            ),
            &s
        ),
        Ok(Value::Bool(true))
    );
    let branch = Expr::Ref(Ref::Run {
        field: "branch".into(),
    });
    let matches = Expr::Binary {
        op: crate::ir::BinOp::Matches,
        lhs: Box::new(branch),
        rhs: Box::new(Expr::Str {
            value: "ma*".into(),
        }),
    };
    assert_eq!(eval(&matches, &s), Ok(Value::Bool(true)));
}

/// Subscripts bash evaluates as arithmetic beyond `$((…))`: in the names that `unset`,
/// `read`, `printf -v` and `declare` take, in compound array assignments, and the value
/// assigned to a variable declared `-i` earlier in the script. A string there could run
/// commands (`a[$(…)]`); an int is fine.
#[test]
fn strings_are_refused_in_subscripts_of_names_and_integer_assignments() {
    let s = scope(&[
        ("x", Value::Str("a[$(touch pwned)]".into())),
        ("n", Value::Int(3)),
    ]);
    for (before, after) in [
        ("a=(1); unset a[", "]"),
        ("read a[", "] <<< x"),
        ("printf -v a[", "] x"),
        ("declare a[", "]=1"),
        ("a=([", "]=1)"),
        ("a+=(x [", "]=1)"),
        ("declare -i v; v=", ""),
        ("declare -i v\nv+=", ""),
        ("f() { local -i v; v=", "; }"),
        ("typeset -i v=0; export v=", ""),
    ] {
        let parts = |name: &str| vec![text(before), Part::Expr(param(name)), text(after)];
        let e = render_script(&parts("x"), &s).expect_err(before);
        assert!(e.to_string().contains("arithmetic"), "{before}: {e}");
        render_script(&parts("n"), &s).unwrap_or_else(|e| panic!("{before}: an int is fine: {e}"));
    }
    let run = |before: &str, after: &str| {
        let parts = vec![text(before), Part::Expr(param("n")), text(after)];
        bash(&render_script(&parts, &s).expect("renders"))
    };
    assert_eq!(run("declare -i v; v=", "+1; echo $v"), "4\n");
    assert_eq!(run("a=([", "]=x); echo ${a[3]}"), "x\n");
    // Not arithmetic: a glob, an array's elements, another variable.
    for (before, after) in [
        ("echo a[", "]"),
        ("a=(", " b)"),
        ("declare -i v; w=", ""),
        ("declare -i v; echo v=", ""),
    ] {
        let parts = vec![text(before), Part::Expr(param("x")), text(after)];
        render_script(&parts, &s).unwrap_or_else(|e| panic!("{before}: {e}"));
    }
}
