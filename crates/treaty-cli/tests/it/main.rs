//! Integration tests: real `treaty` processes on 127.0.0.1, real HTTP, real SQLite files.

#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

mod anchor;
mod auth;
mod bad_input;
mod card;
mod cli;
mod discovery;
mod durability;
mod federation;
mod harness;
mod ledger;
mod ratelimit;
mod records;
mod schemas;
mod sync;
mod tls;
mod witness;
