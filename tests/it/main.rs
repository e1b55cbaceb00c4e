//! The one integration-test binary (linking is slow: keep it one). Every test talks to a real
//! PostgreSQL: one throwaway cluster per test process, one fresh database per test.

mod app;
mod browser;
mod config;
mod confined;
mod django;
mod explain;
mod faults;
mod galera;
mod golden;
mod ha;
mod hammer;
mod honest;
mod hostile;
mod hot;
mod house;
mod mariadb;
mod matrix;
mod methods;
mod original;
mod poolers;
mod process;
mod properties;
mod proxy;
mod schedules;
mod scripts;
mod security;
mod serve;
mod sqlite;
mod statements;
mod support;
mod variants;
mod verdicts;
