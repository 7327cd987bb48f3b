/**
 * The failure of a ring send edge, told to listeners (RingSendEdge.onFailure):
 * each listener once, at once if the edge has already failed, and removable —
 * the edge outlives every reduction on it, and each reduction listens only while
 * it runs. A listener that throws does not keep the others from being told, nor
 * the edge from finishing its own failure handling.
 */
export class FailureListeners {
  private failure: Error | undefined;
  private readonly listeners = new Set<(error: Error) => void>();

  /** The failure, once there is one. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Adds `listener`; returns a function that removes it. Called at once when already failed. */
  add(listener: (error: Error) => void): () => void {
    if (this.failure) {
      listener(this.failure);
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Records the first failure and tells every listener; false (nothing told) when there already was one. */
  fail(error: Error): boolean {
    if (this.failure) return false;
    this.failure = error;
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const listener of listeners) {
      try {
        listener(error);
      } catch {
        // A listener's own trouble is its own: the edge's failure has been told.
      }
    }
    return true;
  }
}
