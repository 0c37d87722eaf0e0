// e2e tests boot servers and processes; a project-level testTimeout is not applied to
// projects, so the e2e tier sets its own here.
jest.setTimeout(60_000);
