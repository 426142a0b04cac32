//! `pipec run --containers`: actions with an `image` run through podman or docker.
//!
//! No container can run on the machines these tests run on (podman installs, but `podman
//! run` fails in their sandbox: see docs/runtime.md), so the runtime is a recording stub on
//! `PATH`: it writes down its exact command line and the names of the variables it was
//! given, then does what the container would do on this machine (the workspace is mounted
//! at the same path, so paths stay valid): it runs the shell in the working folder with
//! only the variables passed by `--env NAME`.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::{Test, files_under};

/// A `podman` (or `docker`) that records and then runs the script as the container would.
const STUB: &str = r#"#!/bin/bash
log="$(dirname "$0")/../calls"
{ printf '%s\n' "--- $(basename "$0")"; printf '[%s]\n' "$@"; } >> "$log"
[ "$1" = run ] || exit 0
shift
names=() workdir=.
while [ "$#" -gt 0 ]; do
  case "$1" in
    --rm|--init|--userns=keep-id) shift ;;
    --env) names+=("$2"); shift 2 ;;
    --workdir) workdir="$2"; shift 2 ;;
    --name|--network|--user|--volume) shift 2 ;;
    -*) echo "stub: unknown option $1" >&2; exit 125 ;;
    *) break ;;
  esac
done
image="$1" shell="$2"; shift 2
echo "image=$image" >> "$log"
vars=("PATH=$PATH")
for n in "${names[@]}"; do
  printf 'env %s=%s\n' "$n" "${!n+set}" >> "$log"
  vars+=("$n=${!n}")
done
cd "$workdir" || exit 126
exec env -i "${vars[@]}" "$shell" "$@"
"#;

const BUILD: &str = r#"pipeline boxed {
  image "debian:12-slim"
  secret token = env("BOX_TOKEN")
  stage build {
    action make: sh {
      run = """
        mkdir -p out
        echo made > out/file.txt
        echo "version=7" >> "$PIPEC_OUTPUT"
        test -z "$HOME_MARK" && printf 'token length %s\n' "$(printf %s "$TOKEN" | wc -c)"
        """
      env = { TOKEN = secrets.token }
      output = site from "out"
      exports = [version]
    }
  }
  stage check {
    action read: sh {
      image = "alpine:3.20"
      input = site
      env = { V = build.make.version }
      run = "cat out/file.txt && test \"$V\" = 7"
    }
  }
}
"#;

/// A folder `bin/` holding the stub under `name`, and the `PATH` that finds it first.
fn with_stub(t: &Test, name: &str) -> String {
    let bin = t.path("bin");
    std::fs::create_dir_all(&bin).expect("bin folder");
    let stub = bin.join(name);
    std::fs::write(&stub, STUB).expect("stub written");
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn calls(t: &Test) -> String {
    std::fs::read_to_string(t.path("calls")).unwrap_or_default()
}

#[test]
fn containers_run_each_action_in_its_image_with_the_workspace_and_env_by_name() {
    let t = Test::new()
        .file("box.pipe", BUILD)
        .env("BOX_TOKEN", "tok-SECRET-77")
        .env("HOME_MARK", "host-only");
    let path = with_stub(&t, "podman");
    t.state(["run", "box.pipe", "--containers"])
        .env("PATH", &path)
        .stderr_contains(" succeeded")
        .run();
    let log = calls(&t);
    assert!(log.contains("image=debian:12-slim"), "{log}");
    assert!(log.contains("image=alpine:3.20"), "{log}");
    for word in [
        "[run]",
        "[--rm]",
        "[--init]",
        "[--userns=keep-id]",
        "[--env]",
        "[TOKEN]",
    ] {
        assert!(log.contains(word), "`{word}` missing from:\n{log}");
    }
    // The workspace is mounted at its own path, and is the working folder.
    let mount = log
        .lines()
        .skip_while(|l| *l != "[--volume]")
        .nth(1)
        .expect("a mount");
    let inner = mount.trim_matches(|c| c == '[' || c == ']');
    let (from, to) = inner.split_once(':').expect("FROM:TO");
    assert!(to.starts_with(from), "{mount}");
    // Secrets reach the container by name only: never on its command line.
    assert!(log.contains("env TOKEN=set"), "{log}");
    assert!(
        !log.contains("tok-SECRET-77"),
        "secret on a command line:\n{log}"
    );
    // Only the attempt's variables go in: not the host's.
    assert!(!log.contains("[HOME_MARK]"), "{log}");
    t.state(["logs", "last", "build.make"])
        .stdout_contains("token length 13")
        .run();
    let v = t.show("last");
    assert_eq!(v["stages"][0]["actions"][0]["exports"]["version"], "7");
    for p in files_under(&t.path("state")) {
        let bytes = std::fs::read(&p).expect("readable");
        assert!(
            !String::from_utf8_lossy(&bytes).contains("tok-SECRET-77"),
            "secret found in {}",
            p.display()
        );
    }
}

#[test]
fn containers_use_docker_when_asked_with_the_user_s_ids() {
    let t = Test::new().file("box.pipe", BUILD).env("BOX_TOKEN", "x");
    let path = with_stub(&t, "docker");
    t.state(["run", "box.pipe", "--containers=docker"])
        .env("PATH", &path)
        .stderr_contains(" succeeded")
        .run();
    let log = calls(&t);
    assert!(log.starts_with("--- docker\n[run]"), "{log}");
    assert!(log.contains("[--user]"), "{log}");
}

#[test]
fn without_containers_images_are_not_used() {
    let t = Test::new().file("box.pipe", BUILD).env("BOX_TOKEN", "x");
    let path = with_stub(&t, "podman");
    t.state(["run", "box.pipe"])
        .env("PATH", &path)
        .stderr_contains(" succeeded")
        .run();
    assert_eq!(calls(&t), "");
}

#[test]
fn containers_without_a_runtime_refuse_the_run_before_it_starts() {
    let t = Test::new().file("box.pipe", BUILD).env("BOX_TOKEN", "x");
    std::fs::create_dir_all(t.path("empty")).expect("folder");
    let empty = t.path("empty").display().to_string();
    t.state(["run", "box.pipe", "--containers"])
        .env("PATH", &empty)
        .status(1)
        .stderr_contains("action `build.make` runs in image `debian:12-slim`, but no container runtime (podman or docker) was found on PATH")
        .stderr_contains("run without `--containers`")
        .run();
    assert!(!t.path("state").exists(), "a run was recorded");
}

#[test]
fn a_stopped_container_is_removed_with_its_action() {
    let t = Test::new().file(
        "slow.pipe",
        r#"pipeline slow {
  stage s {
    action nap: sh { run = "sleep 30" image = "busybox" timeout = 1s }
  }
}
"#,
    );
    let path = with_stub(&t, "podman");
    t.state(["run", "slow.pipe", "--containers"])
        .env("PATH", &path)
        .status(1)
        .within(20)
        .run();
    let log = calls(&t);
    let name = log
        .lines()
        .skip_while(|l| *l != "[--name]")
        .nth(1)
        .expect("a name")
        .to_string();
    assert!(name.starts_with("[pipec-"), "{name}");
    assert!(
        log.contains(&format!("[rm]\n[--force]\n{name}")),
        "the container was not removed:\n{log}"
    );
}
