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
