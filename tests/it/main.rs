//! Every integration test of BitAtlas, in one test binary: one link instead of one per file,
//! and one set of helpers (`support`) shared by all of them, including one Garage node per
//! region started on first use. Each former test file is a module; run one with
//! `cargo test --test it MODULE::` (e.g. `cargo test --test it garage::`).

mod support;

mod audit_trail;
mod bundle;
mod cli_seal_open;
mod completions;
mod envelope_adversarial;
mod envelope_roundtrip;
mod envelope_vectors;
mod erase;
mod examples;
mod export;
mod faults_disk;
mod faults_store;
mod fuzz_replay;
mod garage;
mod http_boundary;
mod http_faults;
mod http_tenants;
mod index_convergence;
mod keyring_file;
mod locate;
mod mcp_clients;
mod overrides;
mod presign_staged;
mod probe;
mod replicas;
mod residency_adversarial;
mod residency_catalog;
mod residency_cli;
mod residency_location;
mod residency_startup;
mod rewrap;
mod schemas;
mod serve_cli;
mod serve_signals;
mod service;
mod shared_data_dir;
mod tool_profiles;
mod transfer_garage;
mod versions;
