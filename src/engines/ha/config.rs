//! The configuration of a throwaway Patroni node: one YAML file per node, all on loopback,
//! password authentication everywhere, its socket and data in the node's private directory.

use std::path::Path;

use crate::model::Replication;

/// What one node's configuration needs.
pub struct NodeConfig<'a> {
    pub scope: &'a str,
    pub name: &'a str,
    pub dir: &'a Path,
    pub pg_port: u16,
    pub rest_port: u16,
    pub etcd_port: u16,
    pub bin_dir: &'a Path,
    pub superuser_password: &'a str,
    pub replication_password: &'a str,
    pub replication: Replication,
    /// `fsync` off for benchmarks; on otherwise.
    pub fsync: bool,
}

/// Patroni's YAML for the node. `ttl 10, loop_wait 2, retry_timeout 3`: a failover in about
/// ten seconds, the shortest Patroni accepts without a watchdog warning.
pub fn patroni_yaml(node: &NodeConfig) -> String {
    let dir = node.dir.display();
    let synchronous = matches!(node.replication, Replication::Sync);
    format!(
        r#"scope: {scope}
name: {name}
log:
  dir: {dir}
restapi:
  listen: 127.0.0.1:{rest}
  connect_address: 127.0.0.1:{rest}
etcd3:
  hosts: 127.0.0.1:{etcd}
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 3
    maximum_lag_on_failover: 1048576
    synchronous_mode: {synchronous}
    postgresql:
      use_pg_rewind: true
      parameters:
        max_connections: 400
        wal_log_hints: 'on'
        fsync: '{fsync}'
  initdb:
    - encoding: UTF8
    - locale: C
    - auth: scram-sha-256
  pg_hba:
    - local all all scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
    - host replication replicator 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:{pg}
  connect_address: 127.0.0.1:{pg}
  data_dir: {dir}/data
  bin_dir: {bin}
  pgpass: {dir}/pgpass
  authentication:
    superuser:
      username: postgres
      password: '{superuser}'
    replication:
      username: replicator
      password: '{replication}'
    rewind:
      username: postgres
      password: '{superuser}'
  parameters:
    unix_socket_directories: '{dir}'
    unix_socket_permissions: '0700'
"#,
        scope = node.scope,
        name = node.name,
        rest = node.rest_port,
        etcd = node.etcd_port,
        pg = node.pg_port,
        bin = node.bin_dir.display(),
        superuser = node.superuser_password,
        replication = node.replication_password,
        fsync = if node.fsync { "on" } else { "off" },
    )
}
