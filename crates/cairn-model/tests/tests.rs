//! Integration tests of `cairn-model`: one binary, one module per concern.

mod codec;
mod codec_reference;
mod fixtures;
mod fuzz_corpus;
mod hostile;
mod json_rules;
mod support;
mod utf8;
