//! The one document tree every reader produces (YAML, JSON, HCL and the shell's jq template
//! all become a `Node`), so one reader (`read.rs`) turns any of them into the model.
//!
//! Scalars are `Text`: literal pieces, references to the file's own inputs (CloudFormation
//! parameters, Terraform variables, jq arguments) and values the import cannot know
//! (`Unresolved`: `!GetAtt` of another resource, `!ImportValue`, a Terraform resource's
//! attribute…), which become params of the imported pipeline with a comment, never dropped.

/// A node of a declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `null` (a value that is not set).
    Null,
    /// CloudFormation's `AWS::NoValue` / Terraform's `null` in a place that removes the key.
    NoValue,
    /// A scalar: strings, and numbers and booleans as written.
    Text(Text),
    /// A sequence.
    List(Vec<Node>),
    /// A mapping, in the source's order; a key may repeat (Terraform's repeated blocks).
    Map(Vec<(String, Node)>),
    /// A node with a note for the reader of the output (a choice the import made).
    Noted(String, Box<Node>),
}

/// A scalar value: the concatenation of its parts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Text(pub Vec<Part>);

/// A piece of a scalar.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// A reference to an input of the file (CloudFormation parameter, Terraform variable,
    /// jq argument), by its name there.
    Param(String),
    /// A value the import cannot know.
    Unresolved(Unresolved),
    /// No text: a note for the reader of the output about a choice made for this value
    /// (which branch of an `Fn::If`, what a `Ref` was taken to be), shown where it is used.
    Note(String),
}

/// A value the import cannot know: it becomes a param of the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Unresolved {
    /// The name proposed for the param (made a pipec identifier later).
    pub name: String,
    /// What the file says, e.g. `!GetAtt Repository.Arn`.
    pub source: String,
    /// Why it cannot be known, e.g. "an attribute of another resource of the template".
    pub why: String,
    /// A value it most likely has (e.g. the literal name of the resource `!Ref` names).
    pub default: Option<String>,
}

impl Text {
    /// Literal text.
    pub fn lit(s: impl Into<String>) -> Text {
        Text(vec![Part::Lit(s.into())])
    }

    /// The text when it is all literal.
    pub fn as_lit(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Note(_) => {}
                _ => return None,
            }
        }
        Some(out)
    }

    /// The text with a note in front.
    pub fn noted(note: String, text: &Text) -> Text {
        let mut out = Text(vec![Part::Note(note)]);
        out.push(text.clone());
        out
    }

    /// Appends another text's parts, merging adjacent literals.
    pub fn push(&mut self, other: Text) {
        for part in other.0 {
            match (self.0.last_mut(), part) {
                (Some(Part::Lit(a)), Part::Lit(b)) => a.push_str(&b),
                (_, part) => self.0.push(part),
            }
        }
    }

    /// A short description for comments: literal text, `${NAME}` for the others.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Param(p) => {
                    out.push_str("${");
                    out.push_str(p);
                    out.push('}');
                }
                Part::Unresolved(u) => out.push_str(&u.source),
                Part::Note(_) => {}
            }
        }
        out
    }
}

/// Keys compared the way the three formats spell them: `RunOrder`, `runOrder`, `run_order`.
pub(crate) fn same_key(left: &str, right: &str) -> bool {
    let mut x = left.chars().filter(|c| *c != '_');
    let mut y = right.chars().filter(|c| *c != '_');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return true,
            (Some(c), Some(d)) if c.eq_ignore_ascii_case(&d) => {}
            _ => return false,
        }
    }
}

impl Node {
    /// The node without its notes, and the notes.
    pub fn peel(&self) -> (&Node, Vec<&str>) {
        let mut node = self;
        let mut notes = Vec::new();
        while let Node::Noted(note, inner) = node {
            notes.push(note.as_str());
            node = inner;
        }
        (node, notes)
    }

    /// The first value under `key` (any spelling, see [`same_key`]).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self.peel().0 {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, v)| same_key(k, key) && *v != Node::NoValue)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The first value under any of `keys`.
    pub fn get_any(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().find_map(|k| self.get(k))
    }

    /// The items under any of `keys`: a list's items, or every entry of a repeated key
    /// (Terraform blocks), in order.
    pub fn items(&self, keys: &[&str]) -> Vec<&Node> {
        let Node::Map(entries) = self.peel().0 else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            if !keys.iter().any(|key| same_key(k, key)) {
                continue;
            }
            match v.peel().0 {
                Node::List(items) => {
                    out.extend(items.iter().filter(|i| **i != Node::NoValue));
                }
                Node::NoValue | Node::Null => {}
                _ => out.push(v),
            }
        }
        out
    }

    /// The scalar, if the node is one.
    pub fn text(&self) -> Option<&Text> {
        match self.peel().0 {
            Node::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The scalar under `key` when it is literal.
    pub fn lit(&self, key: &str) -> Option<String> {
        self.get(key).and_then(Node::text).and_then(Text::as_lit)
    }

    /// The map's entries (empty for other nodes).
    pub fn entries(&self) -> &[(String, Node)] {
        match self.peel().0 {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }
}
