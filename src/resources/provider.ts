// What the plan's JSON names, as Terraform's provider_name, for every kind in this folder: each
// manages its resources through AWS's APIs.

export const PROVIDER_NAME = 'dupsworks/aws';
