//! The ILM policy, component templates and index template for the spans data stream.
//!
//! Installed at exporter start with idempotent `PUT`s, in dependency order:
//!
//! 1. `PUT _ilm/policy/<policy>` (Elasticsearch only): hot phase with rollover, delete phase;
//! 2. `PUT _component_template/cairn-traces-settings`: ILM policy name, codec;
//! 3. `PUT _component_template/cairn-traces-mappings`: `dynamic: false` mappings of every
//!    field of [`crate::document`];
//! 4. `PUT _index_template/cairn-traces`: pattern `traces-cairn.agent-*`, `data_stream: {}`,
//!    priority [`INDEX_TEMPLATE_PRIORITY`], above Elasticsearch's built-in `traces` template
//!    (`traces-*-*`, priority 100) and Fleet integration templates (200).
//!
//! `dynamic: false` keeps unmapped fields in `_source` without indexing them, so a surprising
//! attribute can never cause a mapping explosion or a mapping conflict; arbitrary attributes live
//! in the `flattened` fields `attributes` and `resource.attributes`.
//!
//! The same JSON is shipped under `deploy/efk/elasticsearch/` for clusters set up by hand (a test
//! fails when the files and this module disagree).

use serde_json::{Value, json};

use super::config::{ElasticsearchConfig, Flavor};
use crate::document::{DATA_STREAM_DATASET, DATA_STREAM_TYPE};

/// Name of the index template.
pub const INDEX_TEMPLATE: &str = "cairn-traces";
/// Name of the settings component template.
pub const SETTINGS_COMPONENT: &str = "cairn-traces-settings";
/// Name of the mappings component template.
pub const MAPPINGS_COMPONENT: &str = "cairn-traces-mappings";
/// Priority of the index template.
pub const INDEX_TEMPLATE_PRIORITY: u32 = 250;
/// Version stamped on every installed object (bump with mapping changes).
pub const TEMPLATE_VERSION: u32 = 1;

/// One object to install: the HTTP path and the body of the `PUT`.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateObject {
    /// Path below the endpoint, e.g. `_index_template/cairn-traces`.
    pub path: String,
    /// The JSON body.
    pub body: Value,
    /// File name under `deploy/efk/elasticsearch/`.
    pub file_name: &'static str,
}

fn meta() -> Value {
    json!({"managed_by": "cairn", "description": "Cairn agent spans (traces-cairn.agent-*)"})
}

/// The ILM policy (see [`super::config::IlmConfig`]).
pub fn ilm_policy(config: &ElasticsearchConfig) -> Value {
    json!({
        "policy": {
            "_meta": meta(),
            "phases": {
                "hot": {
                    "min_age": "0ms",
                    "actions": {
                        "rollover": {
                            "max_age": config.ilm.rollover_max_age,
                            "max_primary_shard_size": config.ilm.rollover_max_primary_shard_size,
                        },
                        "set_priority": {"priority": 100},
                    },
                },
                "delete": {
                    "min_age": config.ilm.delete_after,
                    "actions": {"delete": {}},
                },
            },
        },
    })
}

/// The settings component template.
pub fn settings_component(config: &ElasticsearchConfig) -> Value {
    let settings = match config.flavor {
        Flavor::Elasticsearch => json!({
            "index.lifecycle.name": config.ilm.policy,
            "index.codec": "best_compression",
        }),
        Flavor::Opensearch => json!({"index.codec": "best_compression"}),
    };
    json!({
        "version": TEMPLATE_VERSION,
        "_meta": meta(),
        "template": {"settings": settings},
    })
}

/// The mappings component template.
pub fn mappings_component(config: &ElasticsearchConfig) -> Value {
    let es = config.flavor == Flavor::Elasticsearch;
    let keyword = || json!({"type": "keyword", "ignore_above": 1024});
    let constant = || {
        if es {
            json!({"type": "constant_keyword"})
        } else {
            json!({"type": "keyword"})
        }
    };
    let text = || {
        if es {
            json!({"type": "match_only_text"})
        } else {
            json!({"type": "text"})
        }
    };
    let flattened = || {
        if es {
            json!({"type": "flattened", "ignore_above": 1024, "depth_limit": 20})
        } else {
            json!({"type": "flat_object"})
        }
    };
    let long = || json!({"type": "long"});
    let date = || json!({"type": "date_nanos"});
    let object = |properties: Value| json!({"properties": properties});
    json!({
        "version": TEMPLATE_VERSION,
        "_meta": meta(),
        "template": {
            "mappings": {
                "dynamic": false,
                "properties": {
                    "@timestamp": date(),
                    "data_stream": object(json!({
                        "type": constant(),
                        "dataset": constant(),
                        "namespace": constant(),
                    })),
                    "event": object(json!({
                        "kind": keyword(),
                        "dataset": keyword(),
                        "start": date(),
                        "end": date(),
                        "duration": long(),
                        "outcome": keyword(),
                    })),
                    "trace": object(json!({"id": keyword()})),
                    "span": object(json!({
                        "id": keyword(),
                        "name": keyword(),
                        "kind": keyword(),
                    })),
                    "parent": object(json!({"id": keyword()})),
                    "service": object(json!({
                        "name": keyword(),
                        "version": keyword(),
                        "namespace": keyword(),
                        "instance": object(json!({"id": keyword()})),
                    })),
                    "gen_ai": object(json!({
                        "operation": object(json!({"name": keyword()})),
                        "provider": object(json!({"name": keyword()})),
                        "request": object(json!({"model": keyword()})),
                        "response": object(json!({"model": keyword()})),
                        "agent": object(json!({"name": keyword(), "id": keyword()})),
                        "tool": object(json!({
                            "name": keyword(),
                            "call": object(json!({"id": keyword()})),
                        })),
                        "usage": object(json!({
                            "input_tokens": long(),
                            "output_tokens": long(),
                            "cache_read": object(json!({"input_tokens": long()})),
                            "cache_creation": object(json!({"input_tokens": long()})),
                            "reasoning": object(json!({"output_tokens": long()})),
                        })),
                        "conversation": object(json!({"id": keyword()})),
                    })),
                    "user": object(json!({"id": keyword()})),
                    "error": object(json!({
                        "type": keyword(),
                        "message": text(),
                        "stack_trace": {"type": "keyword", "index": false, "doc_values": false},
                    })),
                    "cairn": object(json!({
                        "kind": keyword(),
                        "status": object(json!({"code": keyword(), "message": text()})),
                        "decision": object(json!({
                            "name": keyword(),
                            "options": keyword(),
                            "chosen": keyword(),
                            "confidence": {"type": "double"},
                            "rationale": text(),
                        })),
                        "reasoning": text(),
                        "subject_key": keyword(),
                        "ledger": object(json!({
                            "origin": keyword(),
                            "index": long(),
                            "id": keyword(),
                        })),
                        "events": {"type": "object", "enabled": false},
                        "links": {"type": "object", "enabled": false},
                    })),
                    "attributes": flattened(),
                    "resource": object(json!({"attributes": flattened()})),
                    "scope": object(json!({
                        "name": keyword(),
                        "version": keyword(),
                    })),
                },
            },
        },
    })
}

/// The index template.
pub fn index_template(_config: &ElasticsearchConfig) -> Value {
    json!({
        "index_patterns": [format!("{DATA_STREAM_TYPE}-{DATA_STREAM_DATASET}-*")],
        "data_stream": {},
        "composed_of": [SETTINGS_COMPONENT, MAPPINGS_COMPONENT],
        "priority": INDEX_TEMPLATE_PRIORITY,
        "version": TEMPLATE_VERSION,
        "_meta": meta(),
    })
}

/// Everything to install, in order.
pub fn objects(config: &ElasticsearchConfig) -> Vec<TemplateObject> {
    let mut objects = Vec::with_capacity(4);
    if config.flavor == Flavor::Elasticsearch {
        objects.push(TemplateObject {
            path: format!("_ilm/policy/{}", config.ilm.policy),
            body: ilm_policy(config),
            file_name: "ilm-policy.json",
        });
    }
    objects.push(TemplateObject {
        path: format!("_component_template/{SETTINGS_COMPONENT}"),
        body: settings_component(config),
        file_name: "component-template-settings.json",
    });
    objects.push(TemplateObject {
        path: format!("_component_template/{MAPPINGS_COMPONENT}"),
        body: mappings_component(config),
        file_name: "component-template-mappings.json",
    });
    objects.push(TemplateObject {
        path: format!("_index_template/{INDEX_TEMPLATE}"),
        body: index_template(config),
        file_name: "index-template.json",
    });
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opensearch_gets_no_ilm_and_its_own_types() {
        let config = ElasticsearchConfig {
            flavor: Flavor::Opensearch,
            ..ElasticsearchConfig::default()
        };
        let objects = objects(&config);
        assert!(objects.iter().all(|o| !o.path.starts_with("_ilm")));
        let text: String = objects.iter().map(|o| o.body.to_string()).collect();
        assert!(!text.contains("flattened") && !text.contains("lifecycle"));
        assert!(text.contains("flat_object"));
    }

    #[test]
    fn index_template_outranks_the_built_in_traces_template() {
        let config = ElasticsearchConfig::default();
        let t = index_template(&config);
        assert!(t["priority"].as_u64().is_some_and(|p| p > 200));
        assert_eq!(t["index_patterns"][0], "traces-cairn.agent-*");
        assert_eq!(
            mappings_component(&config)["template"]["mappings"]["dynamic"],
            false
        );
    }
}
