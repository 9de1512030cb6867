//! Integration tests of the ledger (one binary; modules under `suite/`). The crash test is a
//! separate binary (`crash.rs`) because it re-executes itself as the child process.

mod suite;
