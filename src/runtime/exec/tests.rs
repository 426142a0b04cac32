use std::time::{Duration, Instant};

use super::{Attempt, Outcome, mask, run};

fn no_stop() -> tokio::sync::watch::Receiver<u8> {
    let (tx, rx) = tokio::sync::watch::channel(0);
    std::mem::forget(tx);
    rx
}

fn attempt(dir: &std::path::Path, script: &str) -> Attempt {
    Attempt {
        shell: "bash".into(),
        script: script.into(),
        workdir: dir.to_path_buf(),
        env: vec![("GREETING".into(), "hello".into())],
        env_remove: vec![],
        timeout: None,
        grace: Duration::from_millis(500),
        log: dir.join("log.txt"),
        secrets: vec![],
        echo: None,
        workspace: dir.to_path_buf(),
        container: None,
    }
}

/// Whether a process is still alive (signal 0).
fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn read_pid(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid")
}

#[tokio::test]
async fn exit_codes_env_and_workdir() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = attempt(dir.path(), "echo \"$GREETING from $(pwd)\"; exit 3");
    assert_eq!(
        run(&a, &no_stop()).await.expect("runs").outcome,
        Outcome::Exited(3)
    );
    let log = std::fs::read_to_string(dir.path().join("log.txt")).expect("log");
    assert!(log.contains("hello from"), "{log}");
}

#[tokio::test]
async fn a_timeout_stops_the_whole_group_grandchildren_included() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = attempt(dir.path(), "sleep 30 & echo $! > grandchild.pid; sleep 30");
    a.timeout = Some(Duration::from_millis(500));
    let started = Instant::now();
    assert_eq!(
        run(&a, &no_stop()).await.expect("runs").outcome,
        Outcome::TimedOut
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let pid = read_pid(&dir.path().join("grandchild.pid"));
    // Reaped by init, or a zombie for an instant: give it a moment, then it must be gone.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !alive(pid) || is_zombie(pid),
        "grandchild {pid} survived the timeout"
    );
}

#[tokio::test]
async fn a_term_ignoring_process_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = attempt(dir.path(), "trap '' TERM; echo $$ > shell.pid; sleep 30");
    a.timeout = Some(Duration::from_millis(300));
    assert_eq!(
        run(&a, &no_stop()).await.expect("runs").outcome,
        Outcome::TimedOut
    );
    let pid = read_pid(&dir.path().join("shell.pid"));
    assert!(
        !alive(pid) || is_zombie(pid),
        "shell {pid} ignored SIGTERM and survived"
    );
}

#[tokio::test]
async fn background_children_do_not_outlive_a_finished_attempt() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = attempt(dir.path(), "sleep 30 & echo $! > bg.pid; exit 0");
    let started = Instant::now();
    assert_eq!(
        run(&a, &no_stop()).await.expect("runs").outcome,
        Outcome::Exited(0)
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the attempt waited for its background child"
    );
    let pid = read_pid(&dir.path().join("bg.pid"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !alive(pid) || is_zombie(pid),
        "background child {pid} survived"
    );
}

#[tokio::test]
async fn secrets_are_masked_in_the_log_line_by_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = attempt(
        dir.path(),
        "echo \"token=$TOKEN\"; printf '%s\\n' \"$TOKEN\" >&2",
    );
    a.env
        .push(("TOKEN".into(), "s3cr3t-line-one\ns3cr3t-line-two".into()));
    a.secrets = vec!["s3cr3t-line-one\ns3cr3t-line-two".into()];
    assert_eq!(
        run(&a, &no_stop()).await.expect("runs").outcome,
        Outcome::Exited(0)
    );
    let log = std::fs::read_to_string(dir.path().join("log.txt")).expect("log");
    assert!(!log.contains("s3cr3t"), "{log}");
    assert!(log.contains("token=***"), "{log}");
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

#[test]
fn masking_replaces_every_occurrence() {
    assert_eq!(
        mask("a hunter2 b hunter2", &["hunter2".into()]),
        "a *** b ***"
    );
}

#[tokio::test]
async fn a_stop_request_ends_the_group() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = attempt(dir.path(), "sleep 30 & echo $! > child.pid; sleep 30");
    let (tx, rx) = tokio::sync::watch::channel(0u8);
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(super::STOP);
        tx
    });
    let started = Instant::now();
    assert_eq!(run(&a, &rx).await.expect("runs").outcome, Outcome::Stopped);
    assert!(started.elapsed() < Duration::from_secs(10));
    let _tx = stopper.await.expect("stopper");
    let pid = read_pid(&dir.path().join("child.pid"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !alive(pid) || is_zombie(pid),
        "child {pid} survived the stop"
    );
}

#[tokio::test]
async fn a_second_stop_request_abandons_during_the_grace_period() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut a = attempt(dir.path(), "trap '' TERM; sleep 30 & sleep 30");
    a.grace = Duration::from_secs(20);
    let (tx, rx) = tokio::sync::watch::channel(0u8);
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(super::STOP);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = tx.send(super::ABANDON);
        tx
    });
    let started = Instant::now();
    assert_eq!(run(&a, &rx).await.expect("runs").outcome, Outcome::Stopped);
    // Well before the 20 s grace period is over.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let _tx = stopper.await.expect("stopper");
}

#[tokio::test]
async fn dropping_an_attempt_ends_its_process_group() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = attempt(dir.path(), "sleep 30 & echo $! > bg.pid; sleep 30");
    let rx = no_stop();
    // The run gives up on the attempt (its future is dropped) half a second in.
    let gave_up = tokio::time::timeout(Duration::from_millis(500), run(&a, &rx)).await;
    assert!(
        gave_up.is_err(),
        "the attempt should still have been running"
    );
    let pid = read_pid(&dir.path().join("bg.pid"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !alive(pid) || is_zombie(pid),
        "background child {pid} outlived its dropped attempt"
    );
}

#[tokio::test]
async fn an_attempt_says_whether_it_wrote_its_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let silent = run(&attempt(dir.path(), "true"), &no_stop())
        .await
        .expect("runs");
    assert_eq!(silent.outcome, Outcome::Exited(0));
    assert!(!silent.logged && !dir.path().join("log.txt").exists());
    let direct = run(&attempt(dir.path(), "no-such-program-here"), &no_stop())
        .await
        .expect("runs");
    assert_eq!(direct.outcome, Outcome::Exited(127));
    assert!(direct.logged && dir.path().join("log.txt").exists());
    std::fs::remove_file(dir.path().join("log.txt")).expect("rm");
    let printed = run(&attempt(dir.path(), "echo hi"), &no_stop())
        .await
        .expect("runs");
    assert!(printed.logged && dir.path().join("log.txt").exists());
}
