//! The standard library: templates written in `.pipe`, embedded in the binary.

/// Module names, importable as `import "std/NAME"`.
pub const MODULES: &[&str] = &["aws", "git", "node", "python", "rust"];

/// The source of a stdlib module.
pub fn source(module: &str) -> Option<&'static str> {
    Some(match module {
        "rust" => include_str!("../stdlib/rust.pipe"),
        "node" => include_str!("../stdlib/node.pipe"),
        "python" => include_str!("../stdlib/python.pipe"),
        "git" => include_str!("../stdlib/git.pipe"),
        "aws" => include_str!("../stdlib/aws.pipe"),
        _ => return None,
    })
}
