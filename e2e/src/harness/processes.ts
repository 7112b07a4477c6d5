import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { after, before } from "node:test";

/** True while a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Registers a service for the surrounding node:test suite (or file): started in `before`,
 * stopped in `after`. Returns an accessor that throws when called outside the suite's tests.
 */
export function useService<T extends { stop(): Promise<void> }>(
  label: string,
  start: () => Promise<T>,
): () => T {
  let service: T | undefined;
  before(async () => {
    service = await start();
  });
  after(async () => {
    await service?.stop();
    service = undefined;
  });
  return () => {
    if (!service) throw new Error(`${label}: the service runs only inside the suite's tests`);
    return service;
  };
}
