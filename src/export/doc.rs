//! An ordered document tree (what a CloudFormation template or an API request holds) and
//! its writers: YAML (with comments) and JSON. Keys keep the order they were added in, so
//! output is deterministic and readable; intrinsic functions are nodes of their own, so
//! each writer spells them its way (`!Ref X` in YAML, `{"Ref": "X"}` in JSON).

use std::fmt::Write as _;

/// One value of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Str(String),
    Int(i64),
    Bool(bool),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
    /// CloudFormation `Ref`.
    Ref(String),
    /// CloudFormation `Fn::Sub` (a string with `${Name}` references).
    Sub(String),
    /// CloudFormation `Fn::GetAtt` of a resource's attribute.
    GetAtt(String, String),
    /// A value with a comment above it (YAML only; JSON drops comments).
    Commented(String, Box<Node>),
}

impl Node {
    pub fn str(s: impl Into<String>) -> Node {
        Node::Str(s.into())
    }

    /// A map from `(key, value)` pairs, in order.
    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Node)>) -> Node {
        Node::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A list of strings.
    pub fn strs<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Node {
        Node::Seq(items.into_iter().map(|s| Node::Str(s.into())).collect())
    }

    #[must_use]
    pub fn commented(self, comment: impl Into<String>) -> Node {
        Node::Commented(comment.into(), Box::new(self))
    }

    /// The node without its comments.
    fn bare(&self) -> &Node {
        match self {
            Node::Commented(_, n) => n.bare(),
            n => n,
        }
    }

    fn comment(&self) -> Option<&str> {
        match self {
            Node::Commented(c, _) => Some(c),
            _ => None,
        }
    }

    /// The node with every intrinsic function replaced by `f` (for documents that are not
    /// templates: `{{Name}}` placeholders).
    #[must_use]
    pub fn resolve(&self, f: &dyn Fn(&Node) -> Node) -> Node {
        match self {
            Node::Ref(_) | Node::Sub(_) | Node::GetAtt(..) => f(self),
            Node::Seq(items) => Node::Seq(items.iter().map(|n| n.resolve(f)).collect()),
            Node::Map(entries) => Node::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.resolve(f)))
                    .collect(),
            ),
            Node::Commented(c, n) => Node::Commented(c.clone(), Box::new(n.resolve(f))),
            other => other.clone(),
        }
    }
}

/// The document as YAML: block style, two-space indents, strings quoted only where YAML
/// would read them as something else, multi-line strings as literal blocks.
pub fn to_yaml(root: &Node) -> String {
    // Sized once: a large template grown by doubling spends more time in page faults and
    // copies than in writing.
    let mut out = String::with_capacity(size(root, 0));
    yaml_block(&mut out, root.bare(), 0);
    out
}

/// About the size of the written document: text, keys, and indentation of each line.
fn size(node: &Node, depth: usize) -> usize {
    let lines = |s: &str| s.bytes().filter(|&b| b == b'\n').count() + 1;
    match node {
        Node::Str(s) | Node::Sub(s) => s.len() + lines(s) * (depth * 2 + 8) + 8,
        Node::Ref(s) => s.len() + 16,
        Node::GetAtt(a, b) => a.len() + b.len() + 24,
        Node::Int(_) | Node::Bool(_) => 24,
        Node::Seq(items) => {
            items
                .iter()
                .map(|i| size(i, depth + 1) + depth * 2 + 4)
                .sum::<usize>()
                + 4
        }
        Node::Map(entries) => {
            entries
                .iter()
                .map(|(k, v)| k.len() + size(v, depth + 1) + depth * 2 + 8)
                .sum::<usize>()
                + 4
        }
        Node::Commented(c, n) => c.len() + depth * 2 + 4 + size(n, depth),
    }
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn yaml_comment(out: &mut String, comment: &str, at: usize) {
    for line in comment.lines() {
        indent(out, at);
        let _ = writeln!(out, "# {line}");
    }
}

/// A map or list starting on a new line at `at`; a scalar on its own line.
fn yaml_block(out: &mut String, node: &Node, at: usize) {
    match node {
        Node::Map(entries) if !entries.is_empty() => {
            for (k, v) in entries {
                if let Some(c) = v.comment() {
                    yaml_comment(out, c, at);
                }
                indent(out, at);
                out.push_str(&yaml_key(k));
                out.push(':');
                yaml_after_key(out, v.bare(), at);
            }
        }
        Node::Seq(items) if !items.is_empty() => {
            for item in items {
                if let Some(c) = item.comment() {
                    yaml_comment(out, c, at);
                }
                indent(out, at);
                out.push('-');
                yaml_seq_item(out, item.bare(), at);
            }
        }
        other => {
            indent(out, at);
            yaml_inline(out, other, at);
            out.push('\n');
        }
    }
}

/// After `key:`: a nested block on the next lines, or ` scalar`.
fn yaml_after_key(out: &mut String, v: &Node, at: usize) {
    match v {
        Node::Map(e) if !e.is_empty() => {
            out.push('\n');
            yaml_block(out, v, at + 2);
        }
        Node::Seq(s) if !s.is_empty() => {
            out.push('\n');
            yaml_block(out, v, at + 2);
        }
        _ => {
            out.push(' ');
            yaml_inline(out, v, at);
            out.push('\n');
        }
    }
}

/// After `-`: a map's first entry on the same line, the rest below it.
fn yaml_seq_item(out: &mut String, v: &Node, at: usize) {
    match v {
        Node::Map(entries) if !entries.is_empty() => {
            for (i, (k, val)) in entries.iter().enumerate() {
                if i == 0 {
                    out.push(' ');
                } else {
                    if let Some(c) = val.comment() {
                        yaml_comment(out, c, at + 2);
                    }
                    indent(out, at + 2);
                }
                out.push_str(&yaml_key(k));
                out.push(':');
                yaml_after_key(out, val.bare(), at + 2);
            }
        }
        Node::Seq(s) if !s.is_empty() => {
            out.push('\n');
            yaml_block(out, v, at + 2);
        }
        _ => {
            out.push(' ');
            yaml_inline(out, v, at + 2);
            out.push('\n');
        }
    }
}

/// A value on the current line (a literal block for multi-line strings, indented by
/// `at + 2`).
fn yaml_inline(out: &mut String, v: &Node, at: usize) {
    match v {
        Node::Str(s) => yaml_str(out, s, at),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Node::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Node::Ref(name) => {
            let _ = write!(out, "!Ref {name}");
        }
        Node::Sub(s) => {
            out.push_str("!Sub ");
            yaml_str(out, s, at);
        }
        Node::GetAtt(r, a) => {
            let _ = write!(out, "!GetAtt {r}.{a}");
        }
        Node::Map(_) => out.push_str("{}"),
        Node::Seq(_) => out.push_str("[]"),
        Node::Commented(_, n) => yaml_inline(out, n, at),
    }
}

fn yaml_key(k: &str) -> String {
    if plain_ok(k) {
        k.to_string()
    } else {
        json_string(k)
    }
}

fn yaml_str(out: &mut String, s: &str, at: usize) {
    if s.contains('\n') && !s.contains(['\r', '\t']) {
        // `|` keeps one final newline, `|-` none, `|+` all of them.
        let trailing = s.len() - s.trim_end_matches('\n').len();
        let chomp = match trailing {
            0 => "-",
            1 => "",
            _ => "+",
        };
        // An indentation indicator, in case the first line starts with spaces.
        let first_indented = s.starts_with(' ') || s.starts_with('\n');
        let _ = write!(out, "|{}{chomp}", if first_indented { "2" } else { "" });
        for line in s.trim_end_matches('\n').split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(out, at + 2);
                out.push_str(line);
            }
        }
        for _ in 1..trailing {
            out.push('\n');
        }
    } else if plain_ok(s) {
        out.push_str(s);
    } else {
        out.push_str(&json_string(s));
    }
}

/// Whether a string can be written without quotes and still read back as the same string.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let reserved = [
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~",
    ];
    if reserved.iter().any(|r| r.eq_ignore_ascii_case(s)) {
        return false;
    }
    if s.parse::<f64>().is_ok() || s.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./@()*?".contains(c))
        && !s.ends_with(' ')
}

/// A JSON string literal (also a valid YAML double-quoted scalar).
pub fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The document as JSON, indented by two spaces; `cfn` spells intrinsic functions the
/// CloudFormation way.
pub fn to_json(root: &Node) -> String {
    let mut out = String::with_capacity(size(root, 0));
    json_value(&mut out, root, 0);
    out.push('\n');
    out
}

fn json_value(out: &mut String, node: &Node, at: usize) {
    match node {
        Node::Str(s) => out.push_str(&json_string(s)),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Node::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Node::Seq(items) if items.is_empty() => out.push_str("[]"),
        Node::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                indent(out, at + 2);
                json_value(out, item, at + 2);
            }
            out.push('\n');
            indent(out, at);
            out.push(']');
        }
        Node::Map(entries) if entries.is_empty() => out.push_str("{}"),
        Node::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                indent(out, at + 2);
                out.push_str(&json_string(k));
                out.push_str(": ");
                json_value(out, v, at + 2);
            }
            out.push('\n');
            indent(out, at);
            out.push('}');
        }
        Node::Ref(name) => json_value(out, &Node::map([("Ref", Node::str(name))]), at),
        Node::Sub(s) => json_value(out, &Node::map([("Fn::Sub", Node::str(s))]), at),
        Node::GetAtt(r, a) => json_value(
            out,
            &Node::map([("Fn::GetAtt", Node::strs([r.as_str(), a.as_str()]))]),
            at,
        ),
        Node::Commented(_, n) => json_value(out, n, at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_quotes_what_would_read_as_something_else() {
        let doc = Node::map([
            ("a", Node::str("true")),
            ("b", Node::str("12")),
            ("c", Node::str("plain-text_1.2")),
            ("d", Node::str("#{variables.x}")),
            ("e", Node::str("")),
        ]);
        assert_eq!(
            to_yaml(&doc),
            "a: \"true\"\nb: \"12\"\nc: plain-text_1.2\nd: \"#{variables.x}\"\ne: \"\"\n"
        );
    }

    #[test]
    fn yaml_writes_multi_line_strings_as_literal_blocks() {
        let doc = Node::map([("s", Node::str("one\n  two\n"))]);
        assert_eq!(to_yaml(&doc), "s: |\n  one\n    two\n");
        let doc = Node::map([("s", Node::str("  one\ntwo"))]);
        assert_eq!(to_yaml(&doc), "s: |2-\n    one\n  two\n");
    }

    #[test]
    fn yaml_lists_of_maps_and_comments() {
        let doc = Node::map([(
            "L",
            Node::Seq(vec![
                Node::map([("A", Node::Int(1)), ("B", Node::Ref("X".into()))])
                    .commented("from a.pipe:3"),
            ]),
        )]);
        assert_eq!(
            to_yaml(&doc),
            "L:\n  # from a.pipe:3\n  - A: 1\n    B: !Ref X\n"
        );
    }

    #[test]
    fn json_spells_intrinsics_the_cloudformation_way() {
        let doc = Node::map([("R", Node::GetAtt("P".into(), "Arn".into()))]);
        assert_eq!(
            to_json(&doc),
            "{\n  \"R\": {\n    \"Fn::GetAtt\": [\n      \"P\",\n      \"Arn\"\n    ]\n  }\n}\n"
        );
    }
}
