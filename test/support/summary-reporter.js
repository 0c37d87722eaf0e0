// Jest prints its summary on stderr; this repeats the totals on stdout in a plain line.
// A suite that failed to run (an import error, a failing beforeAll) counts as a failure too,
// or a broken suite would read as "0 failed".
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    process.stdout.write(
      `Tests: ${results.numPassedTests} passed, ${failed} failed` +
        (skipped ? `, ${skipped} skipped` : '') +
        '\n',
    );
  }
}
module.exports = SummaryReporter;
