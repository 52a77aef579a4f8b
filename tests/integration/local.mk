# integration tests: written by the integration owner
