/** Builds the OpenAPI 3.1 document from the route table. */
import { z } from 'zod';
import { routes, type RouteDef } from './routes.js';
import { errorBody } from './schemas.js';

function jsonSchema(schema: z.ZodType): unknown {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}

/** One OpenAPI parameter per property of a route's query schema. */
function queryParameters(query: z.ZodType): Record<string, unknown>[] {
  const schema = jsonSchema(query) as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(schema.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query',
    required: schema.required?.includes(name) ?? false,
    schema: s,
  }));
}

/** The OpenAPI document served at /v1/openapi.json. */
export function openApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [name, r] of Object.entries(routes) as [string, RouteDef][]) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params: Record<string, unknown>[] = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (r.query) params.push(...queryParameters(r.query));
    const op: Record<string, unknown> = {
      operationId: name,
      summary: r.summary,
      parameters: params,
      security: r.auth === 'none' ? [] : [{ bearer: [] }],
      responses: {
        '200': {
          description: 'OK',
          content: r.contentType
            ? { [r.contentType]: {} }
            : { 'application/json': { schema: r.response ? jsonSchema(r.response) : {} } },
        },
        default: {
          description: 'Error',
          content: { 'application/json': { schema: jsonSchema(errorBody) } },
        },
      },
    };
    if (r.body) {
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: jsonSchema(r.body) } },
      };
    } else if (r.contentType === 'application/octet-stream' && r.method === 'PUT') {
      op.requestBody = { required: true, content: { 'application/octet-stream': {} } };
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Slipway', version },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
