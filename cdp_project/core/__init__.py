"""The shared kernel every app may import: domain errors, the problem renderer, the
strict JSON parser and pagination. It imports no app."""
