// nginx as the reverse proxy a user would pick instead: one worker (one core, like the Node targets), keep-alive to
// the upstream, no access log (Portico's logging is measured separately), everything in a temp prefix.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { spawnPinned, which } from './proc.mjs';

export function nginxBinary() {
  return which('nginx') ?? (which('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined);
}

export function nginxVersion(binary) {
  const out = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  return (out.stderr || out.stdout).trim().replace(/^nginx version: /, '');
}

function config({ port, upstreamPort, prefix }) {
  return `worker_processes 1;
daemon off;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(prefix, 'body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
  keepalive_timeout 120s;
  keepalive_requests 1000000;
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`;
}

/** Starts nginx (master + one worker, both pinned to `cpu`); returns the child (the master's pid). */
export function startNginx({ binary, port, upstreamPort, dir, cpu, pinning }) {
  const prefix = join(dir, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const file = join(prefix, 'nginx.conf');
  writeFileSync(file, config({ port, upstreamPort, prefix }));
  return spawnPinned({
    cpu,
    pinning,
    command: binary,
    args: ['-p', prefix, '-c', file, '-e', join(prefix, 'error.log')],
    logFile: join(prefix, 'stdout.log'),
  });
}
