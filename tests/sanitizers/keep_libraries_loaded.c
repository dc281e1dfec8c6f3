/* Preloaded into every process of the AddressSanitizer test runs (tests/sanitizers/asan.env):
 * dlclose() leaves the library mapped. MPI_Finalize unloads Open MPI's and PMIx's plugins
 * (mca_*.so); LeakSanitizer runs after it, at exit, and then sees the plugins' global tables as
 * gone: thousands of blocks they still point to become "leaks" whose stacks end in
 * "<unknown module>", which no suppression can name. Kept mapped, those blocks stay reachable and
 * the few real exit-time leaks of the MPI stack have stacks that lsan.supp can match.
 * Built without instrumentation, so it also loads into uninstrumented processes (mpirun, python). */
int dlclose(void* handle) {
  (void)handle;
  return 0;
}
