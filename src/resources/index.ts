// Every resource kind the engine manages, by name.

import type { AwsContext } from '../aws/context.js';
import type { ResourceKind } from '../planner/resource.js';
import { internetGateway } from './internet-gateway.js';
import { natInstance } from './nat-instance.js';
import { route } from './route.js';
import { routeTable } from './route-table.js';
import { securityGroup } from './security-group.js';
import { subnet } from './subnet.js';
import { vpc } from './vpc.js';

const all: ResourceKind<any, any, AwsContext>[] = [vpc, internetGateway, subnet, routeTable, route, securityGroup, natInstance];

export const kinds: ReadonlyMap<string, ResourceKind<any, any, AwsContext>> = new Map(all.map((k) => [k.kind, k]));
