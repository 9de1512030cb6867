//! The deployment files: docker-compose mounts exist, ports and service names agree with the
//! configs, shipped Elasticsearch templates match the code, Kibana objects resolve.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cairn_export::ExporterConfig;
use cairn_export::config::ElasticsearchConfig;
use cairn_export::elasticsearch::templates;
use serde_yaml::Value as Yaml;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compose() -> Yaml {
    serde_yaml::from_str(&read(&deploy_dir().join("docker-compose.yml"))).expect("valid yaml")
}

fn services(compose: &Yaml) -> BTreeMap<String, Yaml> {
    compose["services"]
        .as_mapping()
        .expect("services")
        .iter()
        .map(|(k, v)| (k.as_str().expect("name").to_owned(), v.clone()))
        .collect()
}

/// `(host, container)` of each bind mount / named volume of a service.
fn volumes(service: &Yaml) -> Vec<(String, String)> {
    service["volumes"]
        .as_sequence()
        .map(|v| {
            v.iter()
                .filter_map(Yaml::as_str)
                .map(|s| {
                    let mut parts = s.split(':');
                    let host = parts.next().unwrap_or_default().to_owned();
                    let container = parts.next().unwrap_or_default().to_owned();
                    (host, container)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The cairn config used by the compose file.
fn cairn_toml() -> toml::Value {
    toml::from_str(&read(&deploy_dir().join("efk/cairn/cairn.toml"))).expect("valid toml")
}

fn exporters() -> Vec<ExporterConfig> {
    let value = cairn_toml()["exporters"].clone();
    value.try_into().expect("exporters parse as ExporterConfig")
}

#[test]
fn compose_has_every_service_and_every_mounted_file_exists() {
    let compose = compose();
    let services = services(&compose);
    for name in [
        "cairn",
        "elasticsearch",
        "kibana",
        "fluent-bit",
        "prometheus",
        "alertmanager",
        "grafana",
        "alloy",
    ] {
        assert!(services.contains_key(name), "service {name} missing");
    }
    let named: BTreeSet<String> = compose["volumes"]
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut checked = 0;
    for (name, service) in &services {
        for (host, container) in volumes(service) {
            assert!(!container.is_empty(), "{name}: volume {host} has no target");
            if host.starts_with('.') || host.starts_with('/') {
                let path = deploy_dir().join(&host);
                assert!(path.exists(), "{name} mounts {host}, which does not exist");
                checked += 1;
            } else {
                assert!(
                    named.contains(&host),
                    "{name}: named volume {host} is not declared"
                );
            }
        }
        if let Some(deps) = service["depends_on"].as_mapping() {
            for dep in deps.keys().filter_map(Yaml::as_str) {
                assert!(
                    services.contains_key(dep),
                    "{name} depends on unknown {dep}"
                );
            }
        }
    }
    assert!(checked >= 8, "only {checked} file mounts checked");
}

fn port_published(service: &Yaml, port: u16) -> bool {
    service["ports"].as_sequence().is_some_and(|ports| {
        ports
            .iter()
            .filter_map(Yaml::as_str)
            .any(|p| p.ends_with(&format!(":{port}")))
    }) || service["expose"].as_sequence().is_some_and(|e| {
        e.iter()
            .any(|p| p.as_str() == Some(&port.to_string()) || p.as_u64() == Some(port.into()))
    })
}

#[test]
fn ports_and_service_names_agree_with_the_configs() {
    let compose = compose();
    let services = services(&compose);
    let cairn = &services["cairn"];
    let toml = cairn_toml();
    // cairn listens where the others look for it.
    assert_eq!(toml["api"]["addr"].as_str(), Some("0.0.0.0:7070"));
    assert_eq!(toml["otlp"]["http_addr"].as_str(), Some("0.0.0.0:4318"));
    assert!(port_published(cairn, 7070) && port_published(cairn, 4318));

    let prometheus = read(&deploy_dir().join("prometheus/prometheus.yml"));
    assert!(
        prometheus.contains("cairn:7070"),
        "prometheus must scrape cairn:7070"
    );
    assert!(
        prometheus.contains("alertmanager:9093"),
        "prometheus must alert to alertmanager:9093"
    );
    assert!(port_published(&services["alertmanager"], 9093));
    let alloy = read(&deploy_dir().join("alloy/config.alloy"));
    assert!(
        alloy.contains("cairn:4318"),
        "alloy must export to cairn:4318"
    );

    // The Elasticsearch exporter points at the elasticsearch service; kibana too.
    let exporters = exporters();
    let es = exporters
        .iter()
        .find_map(|e| match e {
            ExporterConfig::Elasticsearch(c) => Some(c),
            _ => None,
        })
        .expect("an elasticsearch exporter");
    assert!(
        es.endpoint.contains("//elasticsearch:9200"),
        "{}",
        es.endpoint
    );
    assert!(port_published(&services["elasticsearch"], 9200));
    let kibana_env = format!("{:?}", services["kibana"]["environment"]);
    assert!(kibana_env.contains("elasticsearch:9200"), "{kibana_env}");

    // Fluent Bit tails the directory the JSONL exporter writes, through a shared volume.
    let jsonl = exporters
        .iter()
        .find_map(|e| match e {
            ExporterConfig::Jsonl(c) => Some(c),
            _ => None,
        })
        .expect("a jsonl exporter");
    let jsonl_dir = jsonl.path.clone().expect("explicit jsonl path");
    let fluent: Yaml =
        serde_yaml::from_str(&read(&deploy_dir().join("efk/fluent-bit/fluent-bit.yaml")))
            .expect("fluent-bit yaml");
    let inputs = fluent["pipeline"]["inputs"].as_sequence().expect("inputs");
    let tail = inputs
        .iter()
        .find(|i| i["name"].as_str() == Some("tail"))
        .expect("a tail input");
    let pattern = tail["path"].as_str().expect("tail path");
    assert_eq!(
        Path::new(pattern).parent(),
        Some(jsonl_dir.as_path()),
        "fluent-bit tails {pattern}, cairn writes {}",
        jsonl_dir.display()
    );
    assert!(pattern.ends_with(&format!("{}-*.jsonl", jsonl.file_prefix)));
    // The volume mounted at the longest prefix of the directory is the one holding it.
    let shared = |service: &str| -> Option<String> {
        volumes(&services[service])
            .into_iter()
            .filter(|(_, c)| jsonl_dir.starts_with(c))
            .max_by_key(|(_, c)| c.len())
            .map(|(h, _)| h)
    };
    let cairn_volume = shared("cairn").expect("cairn mounts the jsonl directory");
    assert_eq!(
        shared("fluent-bit"),
        Some(cairn_volume),
        "same volume in both services"
    );
    let outputs = fluent["pipeline"]["outputs"]
        .as_sequence()
        .expect("outputs");
    let es_out = outputs
        .iter()
        .find(|o| o["name"].as_str() == Some("es"))
        .expect("an es output");
    assert_eq!(es_out["host"].as_str(), Some("elasticsearch"));
    assert_eq!(es_out["port"].as_u64(), Some(9200));
    let stream = cairn_export::document::data_stream_name(&jsonl.namespace);
    assert_eq!(es_out["index"].as_str(), Some(stream.as_str()));
    assert_eq!(es_out["write_operation"].as_str(), Some("create"));
    let fluentd = read(&deploy_dir().join("efk/fluentd/fluent.conf"));
    assert!(fluentd.contains(&format!("data_stream_name {stream}")));
    assert!(fluentd.contains(&format!(
        "path {}/{}-*.jsonl",
        jsonl_dir.display(),
        jsonl.file_prefix
    )));
    assert!(fluentd.contains("<label @ERROR>"));

    // Grafana provisioning points at the prometheus service.
    let grafana = read(&deploy_dir().join("grafana/provisioning/datasources/prometheus.yml"));
    assert!(
        grafana.contains("prometheus:9090"),
        "grafana datasource url"
    );
}

#[test]
fn shipped_templates_match_the_code() {
    let dir = deploy_dir().join("efk/elasticsearch");
    let config = ElasticsearchConfig::default();
    let bless = std::env::var_os("CAIRN_BLESS").is_some();
    for object in templates::objects(&config) {
        let path = dir.join(object.file_name);
        let rendered = serde_json::to_string_pretty(&object.body).expect("json") + "\n";
        if bless {
            std::fs::write(&path, &rendered).expect("write");
        }
        let shipped: serde_json::Value =
            serde_json::from_str(&read(&path)).expect("shipped template is json");
        assert_eq!(
            shipped, object.body,
            "{} drifted from the code (CAIRN_BLESS=1 rewrites it)",
            object.file_name
        );
    }
}

#[test]
fn kibana_saved_objects_resolve_and_use_mapped_fields() {
    let text = read(&deploy_dir().join("efk/kibana/cairn-saved-objects.ndjson"));
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson line"))
        .collect();
    let (summary, objects) = objects.split_last().expect("objects");
    assert_eq!(
        summary["exportedCount"].as_u64(),
        Some(objects.len() as u64)
    );
    let ids: BTreeMap<(String, String), &serde_json::Value> = objects
        .iter()
        .map(|o| {
            (
                (
                    o["type"].as_str().expect("type").to_owned(),
                    o["id"].as_str().expect("id").to_owned(),
                ),
                o,
            )
        })
        .collect();
    for object in objects {
        for reference in object["references"].as_array().expect("references") {
            let key = (
                reference["type"].as_str().expect("type").to_owned(),
                reference["id"].as_str().expect("id").to_owned(),
            );
            assert!(ids.contains_key(&key), "dangling reference {key:?}");
        }
    }
    let types: Vec<&str> = objects.iter().filter_map(|o| o["type"].as_str()).collect();
    assert!(types.contains(&"index-pattern") && types.contains(&"dashboard"));
    assert!(types.iter().filter(|t| **t == "search").count() >= 2);
    let data_view = objects
        .iter()
        .find(|o| o["type"] == "index-pattern")
        .expect("data view");
    assert_eq!(data_view["attributes"]["title"], "traces-cairn.agent-*");
    assert_eq!(data_view["attributes"]["timeFieldName"], "@timestamp");

    // Every column of a saved search is a mapped field.
    let mappings = templates::mappings_component(&ElasticsearchConfig::default());
    let mut mapped = BTreeSet::new();
    fn walk(prefix: &str, props: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let Some(map) = props.as_object() {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if let Some(inner) = v.get("properties") {
                    walk(&path, inner, out);
                } else {
                    out.insert(path);
                }
            }
        }
    }
    walk(
        "",
        &mappings["template"]["mappings"]["properties"],
        &mut mapped,
    );
    for search in objects.iter().filter(|o| o["type"] == "search") {
        for column in search["attributes"]["columns"].as_array().expect("columns") {
            let column = column.as_str().expect("column");
            assert!(mapped.contains(column), "column {column} is not mapped");
        }
        let source: serde_json::Value = serde_json::from_str(
            search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"]
                .as_str()
                .expect("searchSourceJSON"),
        )
        .expect("searchSourceJSON is json");
        let query = source["query"]["query"].as_str().expect("query");
        let field = query.split(':').next().unwrap_or_default().trim();
        assert!(mapped.contains(field), "query field {field} is not mapped");
    }
}
