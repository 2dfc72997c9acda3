// Which command starts the language server. No `vscode` import: unit-tested under plain Node,
// with the file system and the Python probe passed in.

import * as path from 'node:path';

export const INSTALL_COMMAND = "pip install 'ananke-lsp[embedded]'";
const EXECUTABLE = 'ananke-lsp';

export interface ServerCommand {
  command: string;
  args: string[];
  /** Where it came from, for the log: "ananke.server.path", "PATH", a .venv. */
  source: string;
}

/** On failure: what is wrong, and the command that installs the server. */
export type Resolution = { ok: true; server: ServerCommand } | { ok: false; message: string; fix: string };

export interface Host {
  platform: NodeJS.Platform;
  /** The PATH environment variable. */
  searchPath: string;
  /** Workspace folders, first first. */
  folders: string[];
  /** Only a trusted workspace may supply the server from its own `.venv`. */
  trusted: boolean;
  isExecutable(file: string): boolean;
  /** Whether `python` can import the `ananke_lsp` package. */
  hasModule(python: string): Promise<boolean>;
}

function executableNames(name: string, platform: NodeJS.Platform): string[] {
  return platform === 'win32' ? [`${name}.exe`, `${name}.cmd`, name] : [name];
}

function onPath(name: string, host: Host): string | undefined {
  const delimiter = host.platform === 'win32' ? ';' : ':';
  for (const dir of host.searchPath.split(delimiter).filter(Boolean)) {
    for (const file of executableNames(name, host.platform)) {
      const candidate = path.join(dir, file);
      if (host.isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** A setting's value as a file: `~` is the home directory, a relative path is relative to the
 *  first workspace folder, and a bare name ("ananke-lsp", "python3") is looked up on PATH. */
function locate(value: string, host: Host, home: string): string | undefined {
  if (value === '~' || value.startsWith('~/')) {
    value = path.join(home, value.slice(1));
  }
  if (!value.includes('/') && !value.includes('\\')) {
    return onPath(value, host);
  }
  const absolute = path.isAbsolute(value) ? value : path.resolve(host.folders[0] ?? '.', value);
  return host.isExecutable(absolute) ? absolute : undefined;
}

/** In order: `ananke.server.path`; `ananke.server.pythonPath` (`python -m ananke_lsp.server`);
 *  `ananke-lsp` on PATH; `.venv/bin/ananke-lsp` in a (trusted) workspace folder. */
export async function resolveServerCommand(
  settings: { serverPath: string; pythonPath: string },
  host: Host,
  home: string,
): Promise<Resolution> {
  if (settings.serverPath) {
    const command = locate(settings.serverPath, host, home);
    return command
      ? { ok: true, server: { command, args: [], source: 'ananke.server.path' } }
      : {
          ok: false,
          message: `ananke.server.path is "${settings.serverPath}", which is not an executable file: correct or clear it.`,
          fix: INSTALL_COMMAND,
        };
  }
  if (settings.pythonPath) {
    const python = locate(settings.pythonPath, host, home);
    if (!python) {
      return {
        ok: false,
        message: `ananke.server.pythonPath is "${settings.pythonPath}", which is not an executable file: correct or clear it.`,
        fix: INSTALL_COMMAND,
      };
    }
    if (!(await host.hasModule(python))) {
      return {
        ok: false,
        message: `${python} cannot import ananke_lsp.`,
        fix: `"${python}" -m ${INSTALL_COMMAND}`,
      };
    }
    return { ok: true, server: { command: python, args: ['-m', 'ananke_lsp.server'], source: 'ananke.server.pythonPath' } };
  }
  const found = onPath(EXECUTABLE, host);
  if (found) {
    return { ok: true, server: { command: found, args: [], source: 'PATH' } };
  }
  if (host.trusted) {
    const venvBin = host.platform === 'win32' ? ['.venv', 'Scripts'] : ['.venv', 'bin'];
    for (const folder of host.folders) {
      for (const file of executableNames(EXECUTABLE, host.platform)) {
        const candidate = path.join(folder, ...venvBin, file);
        if (host.isExecutable(candidate)) {
          return { ok: true, server: { command: candidate, args: [], source: path.join(folder, '.venv') } };
        }
      }
    }
  }
  return {
    ok: false,
    message:
      `The language server ${EXECUTABLE} was not found on PATH` +
      (host.trusted ? " or in the workspace's .venv" : '') +
      ', and ananke.server.path is not set.',
    fix: INSTALL_COMMAND,
  };
}
