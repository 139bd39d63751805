package lifecycle_test

const helperEnv = "LIFECYCLE_E2E_HELPER"

func helperMain() int { return 0 }
