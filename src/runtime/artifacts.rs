//! The content-addressed artifact store (LANGUAGE.md §9).
//!
//! Capturing an output hashes every file (SHA-256) into `STATE/store/sha256/HH/HASH`, written
//! once and read-only, and writes a manifest (`STATE/artifacts/RUN/NAME.json`: the captured
//! path and its files with their hashes). Restoring copies each file out of the store into
//! the workspace (a reflink where the file system supports it, else a copy), so no action can
//! change a stored artifact through its copy.
//!
//! Names are kept as the file system has them, as bytes (a Linux name need not be UTF-8):
//! a manifest writes a name as a JSON string when it is UTF-8 — as every manifest did before
//! — and as an array of its bytes otherwise, so old manifests read as they are.
#![allow(clippy::disallowed_methods)] // Reason: the runtime owns the state directory.

use std::ffi::OsString;
use std::io::Read as _;
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// What one artifact holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The path it was captured from, relative to the workspace (`.` for a whole folder).
    pub path: String,
    /// Whether `path` was a single file.
    pub single_file: bool,
    pub files: Vec<Entry>,
    /// Folders, so that empty ones come back too.
    pub dirs: Vec<Name>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the captured path (empty for a single file).
    pub rel: Name,
    /// The content's hash (empty for a symbolic link).
    pub sha256: String,
    pub executable: bool,
    /// A symbolic link inside the captured folder: kept as a link to this target, never
    /// followed (a link may point anywhere on the machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Name>,
}

/// A relative path or a link target, byte for byte: a JSON string when it is UTF-8, else
/// an array of its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Name(pub OsString);

impl Name {
    fn of(path: &Path) -> Name {
        Name(path.as_os_str().to_os_string())
    }

    fn as_path(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.to_str() {
            Some(text) => s.serialize_str(text),
            None => s.collect_seq(self.0.as_bytes()),
        }
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Bytes(Vec<u8>),
        }
        Ok(Name(match Written::deserialize(d)? {
            Written::Text(text) => OsString::from(text),
            Written::Bytes(bytes) => OsString::from_vec(bytes),
        }))
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The store's path of a hash.
fn blob(state: &Path, sha: &str) -> PathBuf {
    super::state::Layout::of(state).blob(sha)
}

fn store_file(state: &Path, file: &Path) -> std::io::Result<(String, bool)> {
    let mut hasher = sha2::Sha256::new();
    // Only regular files: a FIFO or a device an action left there would block, or never end.
    let (mut f, meta) = super::bounded::open_regular(file).map_err(|e| match e {
        super::bounded::ReadError::Io(e) => e,
        other => std::io::Error::other(format!("`{}`: {other}", file.display())),
    })?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let sha = hex(&hasher.finalize());
    let executable = meta.permissions().mode() & 0o111 != 0;
    let target = blob(state, &sha);
    if !target.exists() {
        std::fs::create_dir_all(target.parent().unwrap_or(state))?;
        // Write under a temporary name and rename: readers never see a partial blob.
        let tmp = target.with_extension(format!("tmp{}", std::process::id()));
        std::fs::copy(file, &tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o444))?;
        std::fs::rename(&tmp, &target)?;
    }
    Ok((sha, executable))
}

/// Captures `workspace/path` as artifact `name` of `run`.
pub fn capture(
    state: &Path,
    run: &str,
    name: &str,
    workspace: &Path,
    path: &str,
) -> Result<Manifest, String> {
    let root = PathBuf::from(crate::paths::normalize(&workspace.join(path)));
    let meta = std::fs::metadata(&root)
        .map_err(|_| format!("declared output `{name}` (`{path}`) was not produced"))?;
    // Through a symbolic link, PATH could lead anywhere on the machine.
    let inside = match (
        std::fs::canonicalize(&root),
        std::fs::canonicalize(workspace),
    ) {
        (Ok(r), Ok(w)) => r.starts_with(w),
        _ => false,
    };
    if !inside {
        return Err(format!(
            "declared output `{name}` (`{path}`) leads outside the workspace through a symbolic link; outputs are captured from inside it"
        ));
    }
    let mut manifest = Manifest {
        path: path.to_string(),
        single_file: !meta.is_dir(),
        files: Vec::new(),
        dirs: Vec::new(),
    };
    let fail = |e: std::io::Error| format!("cannot store artifact `{name}` (`{path}`): {e}");
    // Held until the manifest that names the blobs is written: `pipec prune` removes only
    // blobs no manifest names, under the exclusive lock, so it never takes one from here.
    let _store = lock_store(state, false).map_err(fail)?;
    if meta.is_dir() {
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .map_err(fail)?
                .collect::<Result<_, _>>()
                .map_err(fail)?;
            entries.sort_by_key(std::fs::DirEntry::file_name);
            for e in entries {
                let p = e.path();
                let rel = Name::of(p.strip_prefix(&root).unwrap_or(&p));
                let kind = e.file_type().map_err(fail)?;
                if kind.is_symlink() {
                    let target = std::fs::read_link(&p).map_err(fail)?;
                    manifest.files.push(Entry {
                        rel,
                        sha256: String::new(),
                        executable: false,
                        link: Some(Name::of(&target)),
                    });
                } else if kind.is_dir() {
                    manifest.dirs.push(rel);
                    stack.push(p);
                } else {
                    let (sha256, executable) = store_file(state, &p).map_err(fail)?;
                    manifest.files.push(Entry {
                        rel,
                        sha256,
                        executable,
                        link: None,
                    });
                }
            }
        }
    } else {
        let (sha256, executable) = store_file(state, &root).map_err(fail)?;
        manifest.files.push(Entry {
            rel: Name::default(),
            sha256,
            executable,
            link: None,
        });
    }
    let file = manifest_path(state, run, name);
    std::fs::create_dir_all(file.parent().unwrap_or(state)).map_err(fail)?;
    let json = serde_json::to_string(&manifest).map_err(|e| e.to_string())?;
    // Whole or not at all (a killed process leaves no half manifest for `pipec prune` to read).
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, json).map_err(fail)?;
    std::fs::rename(&tmp, &file).map_err(fail)?;
    Ok(manifest)
}

/// Takes the store's lock (`store/lock`, an `flock`): shared while an artifact is captured
/// (from its first blob to its manifest), exclusive while `pipec prune` removes the blobs no
/// manifest names. Released when dropped (or when the process dies).
pub fn lock_store(
    state: &Path,
    exclusive: bool,
) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    lock_file(&super::state::Layout::of(state).store_lock(), exclusive)
}

/// An `flock` of the file at `path` (created, with its folder, when missing): shared or
/// exclusive, released when dropped or when the process dies.
pub(crate) fn lock_file(
    path: &Path,
    exclusive: bool,
) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    let how = if exclusive {
        nix::fcntl::FlockArg::LockExclusive
    } else {
        nix::fcntl::FlockArg::LockShared
    };
    nix::fcntl::Flock::lock(file, how).map_err(|(_, e)| std::io::Error::from(e))
}

fn manifest_path(state: &Path, run: &str, name: &str) -> PathBuf {
    super::state::Layout::of(state).manifest(run, name)
}

/// Whether `run` captured artifact `name`.
pub fn exists(state: &Path, run: &str, name: &str) -> bool {
    manifest_path(state, run, name).is_file()
}

/// Restores artifact `name` of `run` into `workspace`, at the path it was captured from, under
/// `folder` when one is given (`inputs = { NAME = "FOLDER" }`).
pub fn restore(
    state: &Path,
    run: &str,
    name: &str,
    workspace: &Path,
    folder: Option<&str>,
) -> Result<PathBuf, String> {
    let fail = |e: std::io::Error| format!("cannot restore artifact `{name}`: {e}");
    let text = std::fs::read_to_string(manifest_path(state, run, name)).map_err(fail)?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| format!("artifact `{name}` has a broken manifest: {e}"))?;
    let base = workspace.join(folder.unwrap_or("."));
    let root = PathBuf::from(crate::paths::normalize(&base.join(&m.path)));
    // Never outside, whatever a hand-edited IR says (the checker allows no `..`).
    if !root.starts_with(crate::paths::normalize(workspace)) {
        return Err(format!(
            "artifact `{name}` would be restored outside the workspace"
        ));
    }
    // Another input already there, where this one needs a folder or a file.
    let overlap = |at: &Path| {
        format!(
            "artifact `{name}` overlaps another input at `{}`",
            at.strip_prefix(workspace).unwrap_or(at).display()
        )
    };
    let make_dir = |dir: &Path| {
        for d in dir
            .ancestors()
            .take_while(|d| d.starts_with(workspace) && *d != workspace)
        {
            if std::fs::symlink_metadata(d).is_ok_and(|m| !m.is_dir()) {
                return Err(overlap(d));
            }
        }
        std::fs::create_dir_all(dir).map_err(fail)
    };
    for d in &m.dirs {
        make_dir(&root.join(d.as_path()))?;
    }
    for f in &m.files {
        let target = if m.single_file {
            root.clone()
        } else {
            root.join(f.rel.as_path())
        };
        if std::fs::symlink_metadata(&target).is_ok() {
            return Err(overlap(&target));
        }
        make_dir(target.parent().unwrap_or(workspace))?;
        if let Some(link) = &f.link {
            std::os::unix::fs::symlink(link.as_path(), &target).map_err(fail)?;
            continue;
        }
        // A reflink where the file system has them (a copy-on-write clone: instant, and
        // writing to it leaves the store alone), else a copy. Never a hard link: the action
        // may write to its file, never to the store.
        reflink_copy::reflink_or_copy(blob(state, &f.sha256), &target).map_err(fail)?;
        let mode = if f.executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;

    use super::{capture, restore};

    #[test]
    fn names_that_are_not_utf8_are_stored_and_restored_byte_for_byte() {
        let state = tempfile::tempdir().expect("tmp");
        let ws = tempfile::tempdir().expect("tmp");
        let out = ws.path().join("out");
        let name = |b: &[u8]| OsStr::from_bytes(b).to_os_string();
        std::fs::create_dir_all(out.join(name(b"d\xfd"))).expect("mkdir");
        // Two names that differ only in bytes that are not UTF-8.
        std::fs::write(out.join(name(b"a\xff")), "one").expect("write");
        std::fs::write(out.join(name(b"a\xfe")), "two").expect("write");
        std::os::unix::fs::symlink(name(b"t\xfc"), out.join("link")).expect("link");
        capture(state.path(), "r1", "o", ws.path(), "out").expect("captures");
        let again = tempfile::tempdir().expect("tmp");
        let root = restore(state.path(), "r1", "o", again.path(), None).expect("restores");
        let read = |b: &[u8]| std::fs::read_to_string(root.join(name(b))).expect("restored");
        assert_eq!(read(b"a\xff"), "one");
        assert_eq!(read(b"a\xfe"), "two");
        assert!(root.join(name(b"d\xfd")).is_dir());
        let target = std::fs::read_link(root.join("link")).expect("a link");
        assert_eq!(target.as_os_str().as_bytes(), b"t\xfc");
    }

    #[test]
    fn manifests_from_before_names_were_bytes_are_read() {
        let state = tempfile::tempdir().expect("tmp");
        let ws = tempfile::tempdir().expect("tmp");
        std::fs::write(ws.path().join("f.txt"), "text").expect("write");
        let single = capture(state.path(), "r0", "f", ws.path(), "f.txt").expect("captures");
        let sha = &single.files[0].sha256;
        let old = format!(
            r#"{{"path":"out","single_file":false,"files":[{{"rel":"sub/f.txt","sha256":"{sha}","executable":false}},{{"rel":"l","sha256":"","executable":false,"link":"sub/f.txt"}}],"dirs":["sub","empty"]}}"#
        );
        std::fs::create_dir_all(state.path().join("artifacts/r1")).expect("mkdir");
        std::fs::write(state.path().join("artifacts/r1/o.json"), old).expect("write");
        let again = tempfile::tempdir().expect("tmp");
        let root = restore(state.path(), "r1", "o", again.path(), None).expect("restores");
        assert_eq!(
            std::fs::read_to_string(root.join("l")).expect("through the link"),
            "text"
        );
        assert!(root.join("empty").is_dir());
    }

    #[test]
    fn captured_artifacts_come_back_and_the_store_cannot_be_changed_through_them() {
        let state = tempfile::tempdir().expect("tmp");
        let ws = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(ws.path().join("out/sub")).expect("mkdir");
        std::fs::create_dir_all(ws.path().join("out/empty")).expect("mkdir");
        std::fs::write(ws.path().join("out/a.txt"), "alpha").expect("write");
        std::fs::write(ws.path().join("out/sub/b.txt"), "beta").expect("write");
        let m = capture(state.path(), "r1", "site", ws.path(), "out").expect("captures");
        assert_eq!(m.files.len(), 2);
        let again = tempfile::tempdir().expect("tmp");
        let root = restore(state.path(), "r1", "site", again.path(), None).expect("restores");
        assert_eq!(
            std::fs::read_to_string(root.join("sub/b.txt")).expect("file"),
            "beta"
        );
        assert!(root.join("empty").is_dir());
        // Writing to the restored copy leaves the store as it was.
        std::fs::write(root.join("a.txt"), "changed").expect("writable copy");
        let third = tempfile::tempdir().expect("tmp");
        let root3 = restore(state.path(), "r1", "site", third.path(), None).expect("restores");
        assert_eq!(
            std::fs::read_to_string(root3.join("a.txt")).expect("file"),
            "alpha"
        );
        // Overlapping inputs are refused.
        assert!(restore(state.path(), "r1", "site", third.path(), None).is_err());
    }

    #[test]
    fn an_artifact_is_restored_under_its_folder_and_never_outside_the_workspace() {
        let state = tempfile::tempdir().expect("tmp");
        let ws = tempfile::tempdir().expect("tmp");
        std::fs::write(ws.path().join("a.txt"), "alpha").expect("write");
        capture(state.path(), "r1", "root", ws.path(), ".").expect("captures");
        std::fs::create_dir_all(ws.path().join("bin")).expect("mkdir");
        std::fs::write(ws.path().join("bin/tool"), "tool").expect("write");
        capture(state.path(), "r1", "tool", ws.path(), "bin/tool").expect("captures");
        let again = tempfile::tempdir().expect("tmp");
        // Two artifacts of the root side by side, each in a folder of its own.
        let one = restore(state.path(), "r1", "root", again.path(), Some("app")).expect("app");
        let two = restore(state.path(), "r1", "root", again.path(), Some("cfg")).expect("cfg");
        assert_eq!(one, again.path().join("app"));
        assert_eq!(two, again.path().join("cfg"));
        for f in ["app/a.txt", "cfg/a.txt"] {
            assert_eq!(
                std::fs::read_to_string(again.path().join(f)).expect(f),
                "alpha"
            );
        }
        // A path artifact keeps its path under the folder.
        let t = restore(state.path(), "r1", "tool", again.path(), Some("x")).expect("x");
        assert_eq!(t, again.path().join("x/bin/tool"));
        let e =
            restore(state.path(), "r1", "tool", again.path(), Some("../out")).expect_err("outside");
        assert!(e.contains("outside the workspace"), "{e}");
    }

    #[test]
    fn links_stay_links_and_a_file_against_a_folder_is_an_overlap() {
        let state = tempfile::tempdir().expect("tmp");
        let ws = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(ws.path().join("out/real")).expect("mkdir");
        std::fs::write(ws.path().join("out/real/f.txt"), "f").expect("write");
        std::os::unix::fs::symlink("real", ws.path().join("out/to-dir")).expect("link");
        std::os::unix::fs::symlink("/etc/hostname", ws.path().join("out/host")).expect("link");
        std::os::unix::fs::symlink("nowhere", ws.path().join("out/dangling")).expect("link");
        capture(state.path(), "r1", "o", ws.path(), "out").expect("captures links");
        let again = tempfile::tempdir().expect("tmp");
        let root = restore(state.path(), "r1", "o", again.path(), None).expect("restores");
        for (link, target) in [
            ("to-dir", "real"),
            ("host", "/etc/hostname"),
            ("dangling", "nowhere"),
        ] {
            let read = std::fs::read_link(root.join(link)).expect("a link");
            assert_eq!(read, std::path::Path::new(target));
        }
        // `out` as a file against `out/…` from another artifact, both ways round.
        let ws2 = tempfile::tempdir().expect("tmp");
        std::fs::write(ws2.path().join("out"), "a file").expect("write");
        capture(state.path(), "r1", "file", ws2.path(), "out").expect("captures");
        let both = tempfile::tempdir().expect("tmp");
        restore(state.path(), "r1", "file", both.path(), None).expect("restores");
        let e = restore(state.path(), "r1", "o", both.path(), None).expect_err("overlaps");
        assert!(e.contains("overlaps another input at `out`"), "{e}");
        let both = tempfile::tempdir().expect("tmp");
        restore(state.path(), "r1", "o", both.path(), None).expect("restores");
        let e = restore(state.path(), "r1", "file", both.path(), None).expect_err("overlaps");
        assert!(e.contains("overlaps another input at `out`"), "{e}");
    }
}
