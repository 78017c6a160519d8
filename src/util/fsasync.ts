// Asynchronous file access through node:fs's callbacks, for the few places that read or write large files
// without blocking the event loop (install media, swap file). Not node:fs/promises: loading it also loads
// readline's interface, the REPL history and the fs watchers (its FileHandle.readLines and watch), ~1.3 MiB
// of RSS kept for the daemon's life (measured with the pinned Node and the binary's V8 flags: 1.35 MiB vs
// 0.1 for these callbacks), for three call sites that need open, fstat, read, write, fsync and close.
import { close, fstat, fsync, open, read, write, type Stats } from 'node:fs';

/** An open file descriptor with promise-returning operations; close() is safe to call more than once. */
export interface AsyncFile {
  readonly fd: number;
  stat(): Promise<Stats>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export function openAsync(path: string, flags: string | number, mode?: number): Promise<AsyncFile> {
  return new Promise((resolve, reject) => {
    open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(asyncFile(fd))));
  });
}

function asyncFile(fd: number): AsyncFile {
  let closed: Promise<void> | null = null;
  const live = () => { if (closed) throw Object.assign(new Error('file already closed'), { code: 'EBADF' }); };
  return {
    fd,
    stat: () => new Promise((resolve, reject) => { live(); fstat(fd, (e, st) => (e ? reject(e) : resolve(st))); }),
    read: (buffer, offset, length, position) => new Promise((resolve, reject) => {
      live();
      read(fd, buffer, offset, length, position, (e, bytesRead) => (e ? reject(e) : resolve({ bytesRead })));
    }),
    write: (buffer, offset, length, position) => new Promise((resolve, reject) => {
      live();
      write(fd, buffer, offset, length, position, (e, bytesWritten) => (e ? reject(e) : resolve({ bytesWritten })));
    }),
    sync: () => new Promise((resolve, reject) => { live(); fsync(fd, (e) => (e ? reject(e) : resolve())); }),
    close: () => {
      closed ??= new Promise((resolve, reject) => close(fd, (e) => (e ? reject(e) : resolve())));
      return closed;
    },
  };
}
