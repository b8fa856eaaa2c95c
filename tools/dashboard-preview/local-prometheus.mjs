// Writes out/prometheus.local.yml: deploy/prometheus.yml with each role's Docker DNS discovery
// (dns_sd_configs: [ingest], [writer], ...) replaced by static localhost targets, everything
// else (intervals, job names, paths) unchanged.
//
//   node local-prometheus.mjs ingest=127.0.0.1:19464 writer=127.0.0.1:19465,127.0.0.1:19467 \
//        features=127.0.0.1:19466 [prometheus=127.0.0.1:19090]
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.resolve(here, "../../deploy/prometheus.yml");
const targets = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [job, list] = arg.split("=");
    if (!job || !list) throw new Error(`expected JOB=HOST:PORT[,HOST:PORT], got ${arg}`);
    return [job, list.split(",")];
  }),
);
const config = YAML.parse(fs.readFileSync(source, "utf8"));
for (const job of config.scrape_configs) {
  const local = targets[job.job_name];
  if (job.dns_sd_configs) {
    if (!local) throw new Error(`no local target given for job ${job.job_name}`);
    delete job.dns_sd_configs;
    job.static_configs = [{ targets: local }];
  } else if (local) {
    job.static_configs = [{ targets: local }];
  }
}
fs.mkdirSync(path.join(here, "out"), { recursive: true });
const out = path.join(here, "out", "prometheus.local.yml");
fs.writeFileSync(out, `# Generated from deploy/prometheus.yml by local-prometheus.mjs\n${YAML.stringify(config)}`);
console.log(`wrote ${out}`);
