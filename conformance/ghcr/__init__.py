"""The ghcr.io checks: every FMT, AUTH, PUSH, PULL, LBL, LIM and API requirement of REQUIREMENTS.md,
tenant isolation and token forgery, black-box over HTTP against any target a profile describes.

What the checks expect of the profile's roles (the ghcr.io and reference example profiles: one
account of the namespace, one classic PAT per scope set):

| role         | may                                                                        |
|--------------|----------------------------------------------------------------------------|
| reader       | pull what the writer pushed (`read:packages`); nothing else                |
| writer       | create packages in the namespace, push and pull (`write:packages`); no delete |
| deleter      | pull and delete what the writer pushed (`read:packages`, `delete:packages`); no push |
| admin        | everything, including the REST API's delete, restore and visibility        |
| other_tenant | its own namespace only; nothing of ours                                    |
| workflow     | a GITHUB_TOKEN of `source_repository` (in our namespace), `packages: write` |

What differs between registries comes from the profile (limits, features); a check whose
prerequisite is missing is skipped by the harness with the reason.
"""
