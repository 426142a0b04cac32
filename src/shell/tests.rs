//! The quote tracker on small scripts.

use super::{Quote, QuoteTracker, quote_word};

fn at_end(s: &str) -> Quote {
    let mut t = QuoteTracker::new();
    t.feed(s);
    t.quote()
}

#[test]
fn tracks_quotes_and_escapes() {
    assert_eq!(at_end("echo '"), Quote::Single);
    assert_eq!(at_end("echo \"a"), Quote::Double);
    assert_eq!(at_end("echo \\\" "), Quote::None);
    assert_eq!(at_end("echo \"it's\" "), Quote::None);
    assert_eq!(at_end("echo 'a\\'"), Quote::None);
}

#[test]
fn comments_do_not_open_quotes() {
    assert_eq!(at_end("# don't quote\necho "), Quote::None);
    assert_eq!(at_end("echo x # it's\necho "), Quote::None);
    assert_eq!(at_end("echo a#'b"), Quote::Single);
}

#[test]
fn command_substitutions_start_a_fresh_context() {
    assert_eq!(at_end("echo \"$(echo "), Quote::None);
    assert_eq!(at_end("echo \"$(echo \""), Quote::Double);
    assert_eq!(at_end("echo \"$(echo \"x\") "), Quote::Double);
    assert_eq!(at_end("echo \"$( (echo a) ) "), Quote::Double);
    assert_eq!(at_end("echo \"`echo "), Quote::None);
    assert_eq!(at_end("echo \"`echo x` "), Quote::Double);
    assert_eq!(at_end("echo `echo '"), Quote::Single);
}

#[test]
fn ansi_c_quotes_have_escapes() {
    assert_eq!(at_end("echo $'it\\'s "), Quote::AnsiC);
    assert_eq!(at_end("echo $'it\\'s' "), Quote::None);
    assert_eq!(at_end("echo \\$'x"), Quote::Single);
}

#[test]
fn here_documents_have_bodies() {
    assert_eq!(at_end("cat <<EOF\nit's "), Quote::Heredoc { expand: true });
    assert_eq!(
        at_end("cat <<'EOF' > f\nx "),
        Quote::Heredoc { expand: false }
    );
    assert_eq!(at_end("cat <<\\EOF\nx "), Quote::Heredoc { expand: false });
    assert_eq!(at_end("cat <<-\"E\"\n\tx\n\tE\necho '"), Quote::Single);
    assert_eq!(at_end("cat <<EOF\nx\nEOF\necho "), Quote::None);
    assert_eq!(at_end("cat <<EOF\nEOFX\n"), Quote::Heredoc { expand: true });
    assert_eq!(at_end("cat <<<'x' "), Quote::None);
    assert_eq!(
        at_end("a <<A; b <<'B'\n1\nA\n2 "),
        Quote::Heredoc { expand: false }
    );
    assert_eq!(at_end("echo 1<<2 "), Quote::None);
}

#[test]
fn arithmetic_and_tests_are_contexts_of_their_own() {
    assert_eq!(at_end("echo $(( 1 + "), Quote::Arith);
    assert_eq!(at_end("echo \"$(( 1 + "), Quote::Arith);
    assert_eq!(at_end("(( i < "), Quote::Arith);
    assert_eq!(at_end("x=$(( (1 + 2) * "), Quote::Arith);
    assert_eq!(at_end("echo $(( (1 + 2) )) "), Quote::None);
    assert_eq!(at_end("echo $[ 1 + "), Quote::Arith);
    assert_eq!(at_end("echo $(( 1 << 2 ))\necho "), Quote::None);
    assert_eq!(at_end("(( x <<= 1 ))\necho "), Quote::None);
    assert_eq!(at_end("[[ $a == "), Quote::Test);
    assert_eq!(at_end("[[ $a == b ]] && echo "), Quote::None);
    assert_eq!(at_end("[ a = b ] && echo "), Quote::None);
    assert_eq!(at_end("( (echo a) ); echo "), Quote::None);
}

#[test]
fn case_patterns_and_here_documents_inside_substitutions() {
    assert_eq!(
        at_end("echo \"$(case a in a) printf x "),
        Quote::None,
        "still in the substitution"
    );
    assert_eq!(at_end("echo \"$(case a in a) x;; esac)"), Quote::Double);
    assert_eq!(at_end("echo \"$(case a in (a) x;; esac) "), Quote::Double);
    assert_eq!(
        at_end("v=$(cat <<EOF\nit's "),
        Quote::Heredoc { expand: true }
    );
    assert_eq!(at_end("v=$(cat <<EOF\nit's\nEOF\n) '"), Quote::Single);
}

#[test]
fn quotes_words() {
    assert_eq!(quote_word("abc"), "abc");
    assert_eq!(quote_word(""), "''");
    assert_eq!(quote_word("$(rm -rf /)"), "'$(rm -rf /)'");
    assert_eq!(quote_word("it's"), "'it'\\''s'");
}

/// Where bash evaluates a subscript or an assignment as arithmetic beyond `$((…))`.
#[test]
fn subscripts_of_named_variables_and_integer_assignments_are_arithmetic() {
    let arithmetic = |s: &str| {
        let mut t = QuoteTracker::new();
        t.feed(s);
        t.arithmetic()
    };
    for s in [
        "unset a[",
        "read -r a[",
        "printf -v a[",
        "a=([",
        "a+=(x [",
        "declare -i v; v=",
        "declare -i v; v=\"",
        "f() { local -i v; v=",
        "if true; then typeset -i w\nw+=",
        "declare -i v; export v=",
    ] {
        assert!(arithmetic(s), "{s}");
    }
    for s in [
        "echo a[",
        "a=(",
        "a=(x) ",
        "declare -i v; w=",
        "declare -i v; echo v=",
        "declare -i v; v=1 ",
    ] {
        assert!(!arithmetic(s), "{s}");
    }
}
