// A container's (or a node's) view of the filesystem, as a root directory to chroot into, so
// that files can be mounted at the exact rendered paths without creating anything on the host.
// The root is a skeleton in a temporary folder: every host entry is a symlink to
// `/.host/<path>` (the host's `/`, bind-mounted there inside the private mount namespace),
// except the folders on the way to a mount target, which are real folders holding symlinks
// for their other entries. Host symlinks are copied as they are (so `/var/run` → `/run` keeps
// resolving inside the root). The launch script, run by `unshare -m` (so every mount dies
// with the process), bind-mounts `/` and each volume, optionally makes the root filesystem
// read-only, then chroots, sets the capability bounding set and the user (setpriv) and execs
// the command in its workdir.
import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface Mount {
  /** Real path on this machine (a file or a folder). */
  readonly source: string;
  /** Path inside the root. */
  readonly target: string;
  readonly readOnly?: boolean;
  /** Bring submounts along and keep receiving the host's new mounts (hostPath, HostToContainer). */
  readonly recursive?: boolean;
}

export interface RootfsSpec {
  readonly mounts: readonly Mount[];
  /** Make `/.host` (the image) read-only (securityContext.readOnlyRootFilesystem). */
  readonly readOnlyRoot?: boolean;
}

const HOST = '/.host';

/** `target` with its existing prefix resolved on the host (`/var/run/x` → `/run/x`). */
export function canonicalTarget(target: string): string {
  const parts = path.resolve(target).split('/').filter(Boolean);
  for (let i = parts.length; i > 0; i--) {
    const prefix = '/' + parts.slice(0, i).join('/');
    if (existsSync(prefix)) return path.join(realpathSync(prefix), ...parts.slice(i));
  }
  return path.resolve(target);
}

/** Create the skeleton under `root` for these mounts; returns the mounts with canonical targets. */
export async function buildRootfs(root: string, spec: RootfsSpec): Promise<Mount[]> {
  const mounts = spec.mounts.map((m) => ({ ...m, target: canonicalTarget(m.target) }));
  const split = new Set<string>(['/']);
  for (const m of mounts) {
    let dir = path.dirname(m.target);
    while (dir !== '/') {
      split.add(dir);
      dir = path.dirname(dir);
    }
  }
  const targets = new Set(mounts.map((m) => m.target));
  const fill = async (dir: string): Promise<void> => {
    const real = path.join(root, dir);
    await mkdir(real, { recursive: true });
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      /* not on the host: only our targets */
    }
    for (const e of entries) {
      const p = path.join(dir, e);
      if (split.has(p) || targets.has(p) || p === HOST) continue;
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue; // removed since the listing (other suites create and delete their temp folders)
      }
      await symlink(st.isSymbolicLink() ? readlinkSync(p) : path.join(HOST, p), path.join(root, p));
    }
    for (const s of split) if (s !== '/' && path.dirname(s) === dir) await fill(s);
  };
  await fill('/');
  await mkdir(path.join(root, HOST), { recursive: true });
  for (const m of mounts) {
    const at = path.join(root, m.target);
    let isDir = true;
    try {
      isDir = lstatSync(m.source).isDirectory();
    } catch {
      /* created later by its owner */
    }
    if (isDir) await mkdir(at, { recursive: true });
    else {
      await mkdir(path.dirname(at), { recursive: true });
      await writeFile(at, '');
    }
  }
  return mounts;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The shell script that mounts and execs; argv after the script: the command. */
export function launchScript(
  root: string,
  mounts: readonly Mount[],
  o: {
    readOnlyRoot?: boolean;
    uid?: number;
    gid?: number;
    workdir: string;
    /** The capability bounding set (lower-case names without cap_); undefined: unchanged. */
    capabilities?: readonly string[];
    noNewPrivs?: boolean;
  },
): string {
  const lines = ['set -e', `mount --rbind / ${q(root + HOST)}`];
  if (o.readOnlyRoot) lines.push(`mount -o remount,bind,ro ${q(root + HOST)}`);
  for (const m of mounts) {
    const at = q(path.join(root, m.target));
    lines.push(`mount ${m.recursive ? '--rbind' : '--bind'} ${q(m.source)} ${at}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${at}`);
  }
  if (o.capabilities) {
    // Capabilities and user are set inside the root (chroot itself needs CAP_SYS_CHROOT), the
    // bounding set before the user changes (which needs CAP_SETPCAP).
    const bounding = ['-all', ...o.capabilities.map((c) => `+${c}`)].join(',');
    const user = o.uid !== undefined ? ` --reuid=${o.uid} --regid=${o.gid ?? o.uid} --clear-groups` : '';
    lines.push(
      `exec chroot ${q(root)} /usr/bin/setpriv --bounding-set=${bounding}${o.noNewPrivs ? ' --no-new-privs' : ''}${user} /bin/sh -c 'cd "$0" && exec "$@"' ${q(o.workdir)} "$@"`,
    );
  } else {
    const user = o.uid !== undefined ? ` --userspec=${o.uid}:${o.gid ?? o.uid} --groups=${o.gid ?? o.uid}` : '';
    lines.push(`exec chroot${user} ${q(root)} /bin/sh -c 'cd "$0" && exec "$@"' ${q(o.workdir)} "$@"`);
  }
  return lines.join('\n');
}
