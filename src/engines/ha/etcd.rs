//! The throwaway etcd a replicated cluster keeps its leader key in: one member, v3 API (the
//! only one this etcd serves), on free loopback ports.

use std::fs;
use std::path::Path;
use std::process::Stdio;

use super::rest;
use crate::engines::supervise::{self, RunAs, Supervised, ThrowawayError, command, io_err};

/// Starts etcd (one member, v3 API) on free loopback ports; its client port.
pub fn launch(etcd: &mut Supervised, binary: &Path, run_as: RunAs) -> Result<u16, ThrowawayError> {
    let (client, peer) = (supervise::free_port()?, supervise::free_port()?);
    let dir = etcd.dir().to_path_buf();
    let log = dir.join("etcd.log");
    let out = fs::File::create(&log).map_err(io_err("could not create etcd's log"))?;
    let _ = std::os::unix::fs::chown(&log, Some(run_as.uid), Some(run_as.gid));
    let err = out
        .try_clone()
        .map_err(io_err("could not create etcd's log"))?;
    let mut cmd = command(binary, run_as, &dir);
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    cmd.args(["--name", "counter", "--logger", "zap"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("counter={peer_url}")])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let ready = move || {
        rest::get_blocking("127.0.0.1", client, "/health")
            .is_some_and(|(_, body)| body.contains("true"))
    };
    etcd.launch(cmd, &log, ready)?;
    Ok(client)
}
