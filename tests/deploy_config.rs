//! The deployment files hold together: docker-compose.yml, the Dockerfile, deploy/prometheus.yml,
//! the Grafana provisioning and dashboard, and the NATS permissions. Pure file checks (no Docker
//! needed; CI also runs `docker compose config -q` where the compose plugin exists).
//!
//! The dashboard check reads the metric names from the code that emits them
//! (src/pipeline/metrics.rs, actors/src/metrics.rs) as text, so a panel naming a metric that
//! does not exist (or a renamed metric) fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use yaml_rust2::{Yaml, YamlLoader};

const ROLES: [&str; 3] = ["ingest", "writer", "features"];

/// Process metrics come from the metrics-process collector installed in actors/src/telemetry.rs,
/// not from a name constant of ours.
const PROCESS_METRICS: [&str; 2] = ["process_resident_memory_bytes", "process_cpu_seconds_total"];

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Applies YAML merge keys (`<<: *anchor`), which docker compose honours and yaml-rust2 leaves
/// as a literal `<<` key (aliases themselves are already resolved by the loader).
fn merge_keys(y: Yaml) -> Yaml {
    match y {
        Yaml::Hash(h) => {
            let mut out = yaml_rust2::yaml::Hash::new();
            let merge = Yaml::String("<<".into());
            if let Some(base) = h.get(&merge) {
                let bases = match base {
                    Yaml::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                for b in bases {
                    if let Yaml::Hash(bh) = merge_keys(b) {
                        for (k, v) in bh {
                            out.insert(k, v);
                        }
                    }
                }
            }
            for (k, v) in h {
                if k != merge {
                    out.insert(k, merge_keys(v));
                }
            }
            Yaml::Hash(out)
        }
        Yaml::Array(a) => Yaml::Array(a.into_iter().map(merge_keys).collect()),
        other => other,
    }
}

fn yaml(rel: &str) -> Yaml {
    let docs = YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    merge_keys(
        docs.into_iter()
            .next()
            .unwrap_or_else(|| panic!("{rel} is empty")),
    )
}

/// A scalar as text (compose accepts numbers and booleans where it means strings).
fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list of scalars, or one string split on whitespace (compose's shell-form commands).
fn words(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(text).collect(),
        Yaml::String(s) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn keys(y: &Yaml) -> Vec<String> {
    y.as_hash()
        .map(|h| h.keys().filter_map(text).collect())
        .unwrap_or_default()
}

/// `environment` as a map, whichever form compose was given (map or `KEY=value` list).
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    match &service["environment"] {
        Yaml::Hash(h) => h
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v).unwrap_or_default())))
            .collect(),
        Yaml::Array(a) => a
            .iter()
            .filter_map(text)
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The port of `http.listen` in config/docker.toml (what every role serves /metrics on).
fn docker_http_port() -> u16 {
    let cfg: toml::Value = toml::from_str(&read("config/docker.toml")).expect("config/docker.toml");
    let listen = cfg["http"]["listen"].as_str().expect("http.listen");
    assert!(
        listen.starts_with("0.0.0.0:"),
        "roles must listen on all interfaces in Docker for Prometheus to reach them: {listen}"
    );
    listen.rsplit(':').next().unwrap().parse().expect("a port")
}

fn volume_sources(service: &Yaml) -> Vec<(String, String)> {
    words(&service["volumes"])
        .iter()
        .filter_map(|v| {
            let mut parts = v.split(':');
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

#[test]
fn compose_defines_every_service_with_its_key_settings() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    let names = keys(services);
    for want in ["nats", "postgres", "prometheus", "grafana"]
        .iter()
        .chain(ROLES.iter())
    {
        assert!(
            names.iter().any(|n| n == want),
            "no service {want}: {names:?}"
        );
    }
    let declared_volumes = keys(&compose["volumes"]);

    // nats: JetStream through its config file, monitoring port, data on a volume.
    let nats = &services["nats"];
    let command = words(&nats["command"]);
    let conf_at = command
        .iter()
        .position(|w| w == "-c" || w == "--config")
        .and_then(|i| command.get(i + 1))
        .expect("nats runs with -c CONFIG");
    let mounts = volume_sources(nats);
    let (host_dir, container_dir) = mounts
        .iter()
        .find(|(_, c)| conf_at.starts_with(c.as_str()))
        .expect("the nats config file is mounted");
    let conf_rel = format!(
        "{}{}",
        host_dir.trim_start_matches("./"),
        &conf_at[container_dir.len()..]
    );
    let conf = read(&conf_rel);
    assert!(conf.contains("jetstream"), "{conf_rel} enables JetStream");
    assert!(
        conf.contains("http_port: 8222"),
        "{conf_rel} has monitoring"
    );
    let ports = words(&nats["ports"]).join(" ");
    assert!(
        ports.contains("4222") && ports.contains("8222"),
        "nats ports: {ports}"
    );
    assert!(
        mounts
            .iter()
            .any(|(h, _)| declared_volumes.contains(h) && !h.starts_with('.')),
        "nats stores JetStream on a named volume"
    );

    // postgres: volume + pg_isready healthcheck.
    let pg = &services["postgres"];
    assert!(
        volume_sources(pg)
            .iter()
            .any(|(h, c)| declared_volumes.contains(h) && c == "/var/lib/postgresql/data"),
        "postgres keeps its data on a named volume"
    );
    assert!(
        words(&pg["healthcheck"]["test"])
            .join(" ")
            .contains("pg_isready"),
        "postgres healthcheck uses pg_isready"
    );

    // prometheus and grafana get their files from deploy/.
    assert!(volume_sources(&services["prometheus"])
        .iter()
        .any(|(h, _)| h == "./deploy/prometheus.yml"));
    let grafana = volume_sources(&services["grafana"]);
    assert!(grafana
        .iter()
        .any(|(h, c)| h == "./deploy/grafana/provisioning" && c == "/etc/grafana/provisioning"));
    let provider = yaml("deploy/grafana/provisioning/dashboards/flare-plus.yml");
    let provider_path = text(&provider["providers"][0]["options"]["path"]).expect("provider path");
    assert!(
        grafana
            .iter()
            .any(|(h, c)| h == "./deploy/grafana/dashboards" && *c == provider_path),
        "the dashboards directory is mounted where the provider looks ({provider_path})"
    );

    // The three roles: one image from the Dockerfile, the docker config, start order,
    // healthcheck on /healthz, secrets only by reference.
    let port = docker_http_port();
    for role in ROLES {
        let s = &services[role];
        assert_eq!(
            text(&s["build"]["dockerfile"]).as_deref(),
            Some("Dockerfile"),
            "{role} is built from the Dockerfile"
        );
        let cmd = words(&s["command"]);
        let role_at = cmd.iter().position(|w| w == "--role").expect("--role");
        assert_eq!(cmd[role_at + 1], role, "{role} runs its own role: {cmd:?}");
        assert!(
            cmd.windows(2)
                .any(|w| w[0] == "--config" && w[1] == "/app/config/docker.toml"),
            "{role} uses config/docker.toml: {cmd:?}"
        );
        assert_eq!(
            text(&s["depends_on"]["postgres"]["condition"]).as_deref(),
            Some("service_healthy"),
            "{role} waits for postgres to be healthy"
        );
        let nats_condition = text(&s["depends_on"]["nats"]["condition"]).unwrap_or_default();
        assert!(
            nats_condition == "service_started" || nats_condition == "service_healthy",
            "{role} waits for nats: {nats_condition:?}"
        );
        let probe = words(&s["healthcheck"]["test"]);
        assert!(
            probe.first().map(String::as_str) == Some("CMD")
                && probe.iter().any(|w| w == "/usr/local/bin/healthz")
                && probe
                    .iter()
                    .any(|w| w.ends_with(&format!(":{port}/healthz"))),
            "{role} healthcheck probes /healthz on {port} without a shell: {probe:?}"
        );
        let env = environment(s);
        assert!(
            env.get("FLARE__SOURCES__DONKI__API_KEY")
                .is_some_and(|v| v.starts_with("${")),
            "{role}: the NASA key comes from the environment"
        );
        for (k, v) in &env {
            let secret = ["PASSWORD", "API_KEY", "TOKEN", "SECRET"]
                .iter()
                .any(|m| k.contains(m));
            if secret {
                assert!(
                    v.starts_with("${"),
                    "{role}: {k} must be a ${{VAR}} reference, not a literal"
                );
            }
        }
        assert_eq!(
            env.get("FLARE__NATS__USER").map(String::as_str),
            Some(role),
            "{role} connects to NATS as its own user"
        );
    }
    let replicas = |role: &str| {
        services[role]["deploy"]["replicas"]
            .as_i64()
            .unwrap_or_else(|| panic!("{role} has deploy.replicas"))
    };
    assert!(replicas("writer") >= 1);
    assert!(
        replicas("features") > 1,
        "the feature role is scaled out to show scaling"
    );
    // Feature replicas are only correct when each worker reads all of OBS and the workers split
    // the series between them (membership); with one shared durable consumer each replica sees
    // a share of the flux and publishes wrong vectors (measured on the 30-day sample: nearly
    // every final vector differed). Keep the compose file and the code in step.
    assert!(
        path("src/pipeline/features/membership.rs").exists()
            && read("src/pipeline/features/mod.rs").contains("worker_obs_consumer"),
        "deploy.replicas > 1 for features needs partitioned feature workers \
         (src/pipeline/features/membership.rs); set replicas: 1 otherwise"
    );
}

#[test]
fn dockerfile_is_multi_stage_small_and_non_root() {
    let dockerfile = read("Dockerfile");
    let lines: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let stages: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "multi-stage build");
    let (build, runtime) = lines.split_at(*stages.last().unwrap());
    let build = build.join("\n");
    assert!(
        build.contains("cargo build --release"),
        "the build stage compiles in release mode"
    );
    assert!(
        build.contains("deploy/healthcheck/healthz.rs")
            && path("deploy/healthcheck/healthz.rs").exists(),
        "the health probe is built from deploy/healthcheck/healthz.rs"
    );
    let base = runtime[0];
    assert!(
        base.contains("distroless") || base.contains("-slim"),
        "small runtime base image: {base}"
    );
    assert!(
        !base.contains("rust:"),
        "the runtime is not the toolchain image"
    );
    let user = runtime
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    let uid = user.trim().split(':').next().unwrap();
    assert!(
        uid != "root" && uid != "0",
        "the runtime runs as a non-root user, not {user}"
    );
    let copies: Vec<&&str> = runtime.iter().filter(|l| l.starts_with("COPY")).collect();
    assert!(copies.iter().any(|l| l.contains("flare-plus")));
    assert!(copies.iter().any(|l| l.contains("config/")));
    assert!(
        runtime.iter().any(|l| l.starts_with("HEALTHCHECK")),
        "the image declares its healthcheck"
    );
    let ignore = read(".dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "target"),
        ".dockerignore keeps target/ out of the build context"
    );
}

#[test]
fn prometheus_scrapes_every_role() {
    let prom = yaml("deploy/prometheus.yml");
    let port = docker_http_port();
    let jobs = prom["scrape_configs"].as_vec().expect("scrape_configs");
    for role in ROLES {
        let job = jobs
            .iter()
            .find(|j| text(&j["job_name"]).as_deref() == Some(role))
            .unwrap_or_else(|| panic!("no scrape job named {role}"));
        let by_dns = job["dns_sd_configs"].as_vec().is_some_and(|c| {
            c.iter().any(|d| {
                words(&d["names"]).iter().any(|n| n == role)
                    && d["port"].as_i64() == Some(port.into())
            })
        });
        let by_static = job["static_configs"].as_vec().is_some_and(|c| {
            c.iter().any(|s| {
                words(&s["targets"])
                    .iter()
                    .any(|t| t == &format!("{role}:{port}"))
            })
        });
        assert!(by_dns || by_static, "job {role} scrapes {role}:{port}");
    }
}

/// Metric names (and which are histograms) as the code defines them.
struct KnownMetrics {
    names: BTreeSet<String>,
    histograms: BTreeSet<String>,
}

fn known_metrics() -> KnownMetrics {
    let mut names = BTreeSet::new();
    let mut histograms = BTreeSet::new();
    for (file, prefix) in [
        ("src/pipeline/metrics.rs", "pipeline_"),
        ("actors/src/metrics.rs", "actor_"),
    ] {
        let src = read(file);
        // identifier -> metric name: `const NAME: &str = "pipeline_..."` or
        // `ActorMetricName::Variant => "actor_..."`.
        let mut by_ident = BTreeMap::new();
        for line in src.lines() {
            let Some(start) = line.find(&format!("\"{prefix}")) else {
                continue;
            };
            let literal = &line[start + 1..];
            let name = &literal[..literal.find('"').unwrap()];
            names.insert(name.to_string());
            let before = &line[..start];
            let ident = before
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .rfind(|w| !w.is_empty() && *w != "str" && *w != "const" && *w != "pub")
                .unwrap_or("");
            by_ident.insert(ident.to_string(), name.to_string());
        }
        for chunk in src.split("describe_histogram!(").skip(1) {
            let arg = chunk.split(',').next().unwrap_or("");
            for (ident, name) in &by_ident {
                let whole = arg
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == ident);
                if whole {
                    histograms.insert(name.clone());
                }
            }
        }
    }
    assert!(
        read("actors/src/telemetry.rs").contains("metrics_process::Collector"),
        "process metrics come from metrics-process"
    );
    names.extend(PROCESS_METRICS.iter().map(|s| s.to_string()));
    assert!(
        names.len() > 20 && histograms.len() >= 6,
        "parsed {names:?} {histograms:?}"
    );
    KnownMetrics { names, histograms }
}

/// The metric names a PromQL expression reads: identifiers that are not functions, keywords,
/// label names in `by (...)`, label matchers `{...}`, strings or range durations.
fn promql_metrics(expr: &str) -> Vec<String> {
    const KEYWORDS: [&str; 6] = ["and", "or", "unless", "bool", "offset", "inf"];
    // Aggregations can be followed by `by (...)` before their parentheses: `max by (x) (m)`.
    const AGGREGATIONS: [&str; 12] = [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut skip_parens_after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '{' || c == '[' {
            let close = if c == '{' { '}' } else { ']' };
            while i < chars.len() && chars[i] != close {
                i += 1;
            }
            i += 1;
        } else if c == '(' && skip_parens_after_grouping {
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            i += 1;
            skip_parens_after_grouping = false;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            let is_call = j < chars.len() && chars[j] == '(';
            if GROUPING.contains(&word.as_str()) {
                skip_parens_after_grouping = true;
            } else if !is_call
                && !KEYWORDS.contains(&word.to_lowercase().as_str())
                && !AGGREGATIONS.contains(&word.as_str())
            {
                out.push(word);
            }
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

fn all_panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner.iter());
        }
    }
    out
}

fn dashboard() -> serde_json::Value {
    serde_json::from_str(&read("deploy/grafana/dashboards/flare-plus.json"))
        .expect("dashboard JSON")
}

#[test]
fn promql_metric_extraction_sees_through_functions_and_labels() {
    assert_eq!(
        promql_metrics(
            r#"histogram_quantile(0.99, sum by (le, actor) (rate(actor_mailbox_latency_seconds_bucket{actor=~"$actor"}[1m])))"#
        ),
        vec!["actor_mailbox_latency_seconds_bucket"]
    );
    assert_eq!(
        promql_metrics("sum(increase(pipeline_records_dead_lettered_total[1h])) or vector(0)"),
        vec!["pipeline_records_dead_lettered_total"]
    );
    assert_eq!(promql_metrics("max by (consumer) (up)"), vec!["up"]);
}

#[test]
fn dashboard_panels_name_only_metrics_the_code_emits() {
    let known = known_metrics();
    let dash = dashboard();
    let prom_jobs: BTreeSet<String> = yaml("deploy/prometheus.yml")["scrape_configs"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|j| text(&j["job_name"]))
        .collect();
    let mut used = BTreeSet::new();
    let mut exprs = 0;
    for panel in all_panels(&dash) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            exprs += 1;
            let metrics = promql_metrics(expr);
            assert!(!metrics.is_empty(), "{title}: no metric in {expr}");
            for m in metrics {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| m.strip_suffix(s).filter(|b| known.histograms.contains(*b)))
                    .unwrap_or(&m);
                assert!(
                    known.names.contains(base),
                    "panel {title:?} reads {m}, which no metrics.rs defines (known: {:?})",
                    known.names
                );
                if m.ends_with("_bucket") {
                    assert!(
                        known.histograms.contains(base),
                        "{title}: {base} is not a histogram"
                    );
                }
                used.insert(m);
            }
            if expr.contains("histogram_quantile(") {
                for part in expr.split("histogram_quantile(").skip(1) {
                    let part = part.trim_start();
                    assert!(
                        (part.starts_with("0.5,") || part.starts_with("0.99,"))
                            && part.contains("sum by (le")
                            && part.contains("_bucket"),
                        "{title}: quantiles come from sum by (le, ...) (rate(..._bucket[..])): {expr}"
                    );
                }
            }
            if let Some(start) = expr.find("job=~\"") {
                let list = &expr[start + 6..];
                for job in list[..list.find('"').unwrap()].split('|') {
                    assert!(prom_jobs.contains(job), "{title}: job {job} is not scraped");
                }
            }
        }
    }
    assert!(exprs >= 20, "only {exprs} Prometheus queries");
    // What the issue asks the dashboard to show.
    for required in [
        "actor_mailbox_latency_seconds_bucket",
        "actor_mailbox_depth",
        "actor_memory_bytes",
        "process_resident_memory_bytes",
        "pipeline_records_ingested_total",
        "pipeline_records_stored_total",
        "pipeline_vectors_published_total",
        "pipeline_records_dead_lettered_total",
        "pipeline_end_to_end_seconds_bucket",
        "pipeline_consumer_pending_messages",
        "pipeline_consumer_ack_pending_messages",
    ] {
        assert!(used.contains(required), "no panel shows {required}");
    }
    let all_exprs: Vec<&str> = all_panels(&dash)
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    for q in ["0.5", "0.99"] {
        assert!(
            all_exprs
                .iter()
                .any(|e| e.starts_with(&format!("histogram_quantile({q}"))
                    && e.contains("actor_mailbox_latency_seconds_bucket")),
            "mailbox latency p{q}"
        );
    }
}

#[test]
fn dashboard_datasources_units_layout_and_sql() {
    let dash = dashboard();
    let vars = dash["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    assert_eq!(var("pg")["type"], "datasource");
    // The provisioned datasources are the variables' defaults.
    let provisioned = yaml("deploy/grafana/provisioning/datasources/flare-plus.yml");
    let sources = provisioned["datasources"].as_vec().expect("datasources");
    for (variable, kind) in [
        ("datasource", "prometheus"),
        ("pg", "grafana-postgresql-datasource"),
    ] {
        let uid = var(variable)["current"]["value"].as_str().unwrap();
        assert!(
            sources
                .iter()
                .any(|s| text(&s["uid"]).as_deref() == Some(uid)
                    && text(&s["type"]).as_deref() == Some(kind)),
            "a provisioned {kind} datasource with uid {uid}"
        );
        assert_eq!(var(variable)["query"], kind);
    }
    let tables: BTreeSet<String> = read("src/store/migrations/postgres/0001_initial.sql")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("CREATE TABLE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let check_sql = |what: &str, sql: &str| {
        for part in sql.split("FROM ").skip(1) {
            let table = part
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("");
            assert!(
                tables.contains(table),
                "{what}: table {table} does not exist ({tables:?})"
            );
        }
    };

    let mut cells: BTreeMap<(i64, i64), String> = BTreeMap::new();
    let mut flux_panel = None;
    for panel in all_panels(&dash) {
        let title = panel["title"].as_str().unwrap_or("?").to_string();
        let g = &panel["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().unwrap(),
            g["y"].as_i64().unwrap(),
            g["w"].as_i64().unwrap(),
            g["h"].as_i64().unwrap(),
        );
        assert!(
            x >= 0 && w > 0 && x + w <= 24,
            "{title}: gridPos out of the 24 columns"
        );
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = cells.insert((cx, cy), title.clone()) {
                    panic!("panels {other:?} and {title:?} overlap");
                }
            }
        }
        if panel["type"] == "row" {
            continue;
        }
        let uid = panel["datasource"]["uid"].as_str().unwrap_or("");
        assert!(
            uid == "${datasource}" || uid == "${pg}",
            "{title}: datasource through the template variables, not {uid:?}"
        );
        if panel["type"] == "timeseries" || panel["type"] == "stat" {
            assert!(
                panel["fieldConfig"]["defaults"]["unit"].is_string(),
                "{title}: has a unit"
            );
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(sql) = target["rawSql"].as_str() {
                assert_eq!(uid, "${pg}", "{title}: SQL goes to PostgreSQL");
                check_sql(&title, sql);
                if sql.contains("flare_goes_xray_flux") {
                    flux_panel = panel["id"].as_i64();
                }
            }
        }
    }
    let flux_panel = flux_panel.expect("a panel draws the X-ray flux from PostgreSQL");
    let annotations = dash["annotations"]["list"].as_array().unwrap();
    let flares: Vec<_> = annotations
        .iter()
        .filter(|a| {
            a["target"]["rawSql"]
                .as_str()
                .is_some_and(|s| s.contains("flare_events"))
        })
        .collect();
    assert!(
        !flares.is_empty(),
        "flares are annotations from flare_events"
    );
    for a in flares {
        check_sql("annotation", a["target"]["rawSql"].as_str().unwrap());
        assert_eq!(a["datasource"]["uid"], "${pg}");
        let ids = a["filter"]["ids"]
            .as_array()
            .expect("flare annotations target the flux panel");
        assert!(ids.iter().any(|i| i.as_i64() == Some(flux_panel)));
    }
}

/// `NAME = { ... }` blocks of a NATS config: the allow/deny lists of publish and subscribe.
fn nats_lists(conf: &str, block: &str, direction: &str, kind: &str) -> Vec<String> {
    let start = conf
        .find(&format!("{block} = {{"))
        .unwrap_or_else(|| panic!("no permission block {block}"));
    let body = &conf[start..];
    // The block ends at the brace that balances its opening one.
    let mut depth = 0;
    let mut end = body.len();
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let body = &body[..end];
    let Some(dir) = body.find(&format!("{direction} = {{")) else {
        return Vec::new();
    };
    let section = &body[dir..];
    let section = &section[..section.find('}').unwrap_or(section.len())];
    let Some(list) = section.find(&format!("{kind} = [")) else {
        return Vec::new();
    };
    let list = &section[list..];
    let list = &list[list.find('[').unwrap() + 1..list.find(']').unwrap()];
    list.split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn nats_permissions_give_each_role_only_what_it_needs() {
    let conf = read("deploy/nats/permissions.conf");
    let publish = |b: &str| nats_lists(&conf, b, "publish", "allow");
    let deny = |b: &str| nats_lists(&conf, b, "publish", "deny");
    let subscribe = |b: &str| nats_lists(&conf, b, "subscribe", "allow");
    let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    let expect = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    assert_eq!(
        set(publish("INGEST")),
        expect(&[
            "flare.obs.>",
            "flare.dlq.>",
            "$JS.API.>",
            "$KV.flare_checkpoints.>"
        ])
    );
    assert_eq!(
        set(publish("WRITER")),
        expect(&["flare.dlq.>", "$JS.API.>", "$JS.ACK.OBS.>"])
    );
    assert!(deny("WRITER").contains(&"flare.features.>".to_string()));
    assert_eq!(
        set(publish("FEATURES")),
        expect(&[
            "flare.features.>",
            "flare.dlq.>",
            "$JS.API.>",
            "$JS.ACK.OBS.>",
            "$KV.flare_checkpoints.>"
        ])
    );
    for block in ["INGEST", "WRITER", "FEATURES", "READER"] {
        assert!(
            subscribe(block).contains(&"_INBOX.>".to_string()),
            "{block} receives replies"
        );
    }
    assert!(publish("READER").iter().all(|s| s.starts_with("$JS.API.")));
    assert!(subscribe("READER").contains(&"flare.features.>".to_string()));

    // Every user's password comes from an environment variable the compose file sets.
    let compose = yaml("docker-compose.yml");
    let nats_env = environment(&compose["services"]["nats"]);
    for user in ["ingest", "writer", "features", "reader"] {
        let var = format!("NATS_{}_PASSWORD", user.to_uppercase());
        assert!(
            conf.contains(&format!("user: {user},"))
                && conf.contains(&format!("password: ${var},")),
            "user {user} with password ${var}"
        );
        assert!(nats_env.contains_key(&var), "compose passes {var} to nats");
    }
    assert!(read("deploy/nats/nats.conf").contains("include ./permissions.conf"));
}
