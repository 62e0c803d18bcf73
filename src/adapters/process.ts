/** Facts about other processes on this machine. */

/** Whether a process with this id exists (one owned by another user, EPERM, counts as alive). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
