use super::{mask, masks};

fn masked(text: &str, secrets: &[&str]) -> String {
    let secrets: Vec<String> = secrets.iter().map(|s| (*s).to_string()).collect();
    mask(text, &masks(&secrets))
}

#[test]
fn every_occurrence_is_masked() {
    assert_eq!(masked("a hunter2 b hunter2", &["hunter2"]), "a *** b ***");
}

#[test]
fn overlapping_secrets_are_masked_as_their_union() {
    assert_eq!(masked("[AAAABBBBCCCC]", &["AAAABBBB", "BBBBCCCC"]), "[***]");
    assert_eq!(masked("[AAAABBBBCCCC]", &["BBBBCCCC", "AAAABBBB"]), "[***]");
    // Three that chain: each overlaps the next only.
    assert_eq!(masked("x abcdefg y", &["abc", "cde", "efg"]), "x *** y");
}

#[test]
fn a_secret_overlapping_itself_is_masked_whole() {
    assert_eq!(masked("<abababa>", &["aba"]), "<***>");
    assert_eq!(masked("xaaaay", &["aaa"]), "x***y");
}

#[test]
fn adjacent_secrets_become_one_mask() {
    assert_eq!(masked("AAAABBBB", &["AAAA", "BBBB"]), "***");
    assert_eq!(masked("AAAA BBBB", &["AAAA", "BBBB"]), "*** ***");
}

#[test]
fn a_secret_that_is_a_prefix_of_another_leaves_nothing_of_either() {
    assert_eq!(
        masked("tok tok-long tok", &["tok", "tok-long"]),
        "*** *** ***"
    );
    assert_eq!(masked("tok-long", &["tok-long", "tok"]), "***");
    assert_eq!(masked("long-tok", &["tok", "long-tok"]), "***");
}

#[test]
fn an_empty_secret_masks_nothing() {
    assert_eq!(masked("plain text", &[""]), "plain text");
    assert_eq!(mask("plain text", &[String::new()]), "plain text");
    assert_eq!(masked("", &["abc"]), "");
}

#[test]
fn multi_byte_secrets_and_text_stay_valid() {
    assert_eq!(
        masked("grüße→🔑 mot-de-passé", &["🔑", "passé"]),
        "grüße→*** mot-de-***"
    );
    assert_eq!(masked("ééé", &["éé"]), "***");
    assert_eq!(masked("aéb", &["é"]), "a***b");
}

#[test]
fn each_line_of_a_multi_line_secret_is_masked() {
    assert_eq!(
        masked("one: line-one\ntwo: line-two\n", &["line-one\nline-two"]),
        "one: ***\ntwo: ***\n"
    );
    // Lines shorter than 3 characters would mask ordinary text everywhere.
    assert_eq!(masked("a b", &["a\nline-two"]), "a b");
}

mod inherited {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::super::{Inherited, Parent, Passed, Sources};

    fn ir(src: &str) -> crate::ir::Ir {
        let mut map = crate::source::SourceMap::new();
        let root = map.add("p.pipe".to_string(), src.to_string());
        crate::compile(&mut map, root, &mut crate::check::NoLoader)
            .ir
            .expect("checks clean")
    }

    const OUTER: &str = r#"pipeline outer {
  secret tok = env("OUTER_TOK")
  secret key = file("keys/key.pem")
  stage s { action a: sh { env = { T = secrets.tok, K = secrets.key } run = "true" } }
}
"#;

    fn passed(value: &str, secret: bool) -> Passed {
        Passed {
            value: value.into(),
            secret,
        }
    }

    /// The run nested in `outer` (its folder `base`) by an action with `env`.
    fn nested_in_outer(base: &Path, env: Vec<(String, Passed)>) -> Inherited {
        let ir = ir(OUTER);
        let secrets = BTreeMap::from([
            ("tok".to_string(), "tok-value".to_string()),
            ("key".to_string(), "key-value".to_string()),
        ]);
        let parent = Parent {
            ir: &ir,
            secrets: &secrets,
            vars: &["OUTER_TOK".to_string()],
            base,
        };
        Inherited::default().nested(&parent, env)
    }

    #[test]
    fn a_nested_run_masks_and_removes_what_the_run_around_it_keeps_secret() {
        let dir = tempfile::tempdir().expect("tmp");
        let inner = nested_in_outer(dir.path(), vec![("GREETING".into(), passed("hi", false))]);
        assert_eq!(inner.secrets, ["key-value", "tok-value"]);
        let (remove, add) = inner.for_actions(&["INNER_TOK".to_string()]);
        assert_eq!(remove, ["INNER_TOK", "OUTER_TOK"]);
        assert_eq!(add, [("GREETING".to_string(), "hi".to_string())]);
        let own = BTreeMap::from([("t".to_string(), "inner-value".to_string())]);
        assert_eq!(
            inner.masks_with(&own),
            ["inner-value", "key-value", "tok-value"]
        );
    }

    #[test]
    fn an_action_env_passes_variables_explicitly() {
        let dir = tempfile::tempdir().expect("tmp");
        let inner = nested_in_outer(
            dir.path(),
            vec![
                ("OUTER_TOK".into(), passed("tok-value", true)),
                ("EXTRA".into(), passed("extra-secret", true)),
            ],
        );
        // Set explicitly, so not removed; a secret's value is masked.
        assert!(!inner.removed.contains("OUTER_TOK"));
        assert!(inner.secrets.contains(&"extra-secret".to_string()));
        // The inner run reads its own secret from EXTRA: its actions do not get it.
        let (remove, add) = inner.for_actions(&["EXTRA".to_string()]);
        assert_eq!(remove, ["EXTRA"]);
        assert_eq!(add, [("OUTER_TOK".to_string(), "tok-value".to_string())]);
        // Nor does a run nested one level deeper.
        let inner_ir = ir(r#"pipeline inner {
  secret t = env("EXTRA")
  stage s { action a: sh { env = { T = secrets.t } run = "true" } }
}
"#);
        let secrets = BTreeMap::from([("t".to_string(), "extra-secret".to_string())]);
        let deeper = inner.nested(
            &Parent {
                ir: &inner_ir,
                secrets: &secrets,
                vars: &["EXTRA".to_string()],
                base: dir.path(),
            },
            Vec::new(),
        );
        assert!(!deeper.env.contains_key("EXTRA"));
        assert!(deeper.removed.contains("EXTRA"));
    }

    #[test]
    fn params_may_not_read_the_sources_of_secrets() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("keys")).expect("mkdir");
        std::fs::write(dir.path().join("keys/key.pem"), "key-value").expect("write");
        let inner = nested_in_outer(
            dir.path(),
            vec![
                ("PASSED".into(), passed("tok-value", true)),
                ("PLAIN".into(), passed("plain", false)),
            ],
        );
        let inner_ir = ir(r#"pipeline inner {
  secret own = env("INNER_TOK")
  stage s { action a: sh { env = { T = secrets.own } run = "true" } }
}
"#);
        let sources = Sources::new(&inner_ir, dir.path(), &inner);
        let refused = |var: &str| sources.var_refusal(var).unwrap_or_default();
        assert_eq!(refused("INNER_TOK"), "it is the source of secret `own`");
        assert_eq!(
            refused("OUTER_TOK"),
            "it is the source of a secret of an enclosing run"
        );
        assert_eq!(
            refused("PASSED"),
            "the `pipeline` action sets it from a secret"
        );
        assert_eq!(sources.var_refusal("PLAIN"), None);
        assert_eq!(sources.var_refusal("HOME"), None);
        let through = dir.path().join("keys/../keys/./key.pem");
        assert_eq!(
            sources.file_refusal(&through).as_deref(),
            Some("it is the source of a secret of an enclosing run")
        );
        assert_eq!(sources.file_refusal(&dir.path().join("other.txt")), None);
    }
}
