//! The `escrow-api` binary as a child process: its commands' outcomes, and `serve` against a
//! [`World`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{eventually, Server, World};

/// The test build's `escrow-api` binary (Cargo names it to integration tests only).
pub fn bin_path() -> PathBuf {
    let exe = option_env!("CARGO_BIN_EXE_escrow-api");
    PathBuf::from(exe.expect("the escrow-api binary is named to integration tests"))
}

/// A command of the test build's `escrow-api` binary.
pub fn bin() -> Command {
    Command::new(bin_path())
}

/// A command's standard error, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that the command succeeded (showing its standard error if not).
pub fn assert_success(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
}

/// Asserts that the command failed, saying `why` on its standard error.
pub fn assert_fails_saying(out: &Output, why: &str) {
    assert!(!out.status.success(), "succeeded: {}", stderr(out));
    assert!(stderr(out).contains(why), "{}", stderr(out));
}

/// A child process, killed (SIGKILL) on drop.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `command`, an escrow's `serve` on 127.0.0.1:`port`, and waits until it answers
/// `/health` with 200.
pub async fn spawn_serving(command: &mut Command, port: u16) -> Child {
    let child = Child(command.spawn().expect("spawn escrow-api serve"));
    let health = format!("http://127.0.0.1:{port}/health");
    eventually("the escrow to answer /health", || async {
        match reqwest::get(&health).await {
            Ok(r) if r.status() == 200 => Some(()),
            _ => None,
        }
    })
    .await;
    child
}

impl World {
    /// `exe [extra...] serve` on 127.0.0.1:`port` against this world: its data directory,
    /// deployment file and node.
    pub fn serve_command(&self, exe: &Path, port: u16, extra: &[&str]) -> Command {
        let mut command = Command::new(exe);
        command.args(extra).arg("--data-dir").arg(&self.data);
        command.arg("--deployment").arg(&self.deployment_file);
        command.args(["--rpc-url", self.url()]);
        command.args(["--bind", &format!("127.0.0.1:{port}"), "serve"]);
        command
    }

    /// The test build's binary serving this world on 127.0.0.1:`port` (`extra` arguments first,
    /// its output discarded), once it answers.
    pub async fn serve_binary(&self, port: u16, extra: &[&str]) -> Child {
        let mut command = self.serve_command(&bin_path(), port, extra);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        spawn_serving(&mut command, port).await
    }

    /// An escrow run as a child process on 127.0.0.1:`port` with this world's configuration, as
    /// the tests address it.
    pub fn external(&self, port: u16) -> Server {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut config = self.config();
        config.bind = addr;
        Server::external(addr, config)
    }
}
