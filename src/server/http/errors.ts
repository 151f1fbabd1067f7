/** Every error becomes `{ error: { code, message, details } }` with the status of its code. */
import type { FastifyInstance } from 'fastify';
import { httpStatusOf, isSlipwayError } from '../../core/index.js';

/** Maps every error to `{ error: { code, message, details } }` with the status of its code. */
export function installErrorHandling(app: FastifyInstance, log: (msg: string) => void): void {
  app.setErrorHandler((err: unknown, request, reply) => {
    if (isSlipwayError(err)) {
      return reply
        .status(httpStatusOf[err.code])
        .send({ error: { code: err.code, message: err.message, details: err.details } });
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 413) {
      const limit = request.routeOptions.bodyLimit;
      return reply.status(413).send({
        error: {
          code: 'INVALID',
          message: `request body too large: ${request.method} ${request.routeOptions.url ?? request.url} accepts at most ${limit} bytes`,
          details: { limit },
        },
      });
    }
    if (status !== undefined && status >= 400 && status < 500) {
      const code = status === 404 ? 'NOT_FOUND' : 'INVALID';
      return reply
        .status(status)
        .send({ error: { code, message: (err as Error).message, details: {} } });
    }
    log(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    return reply.status(500).send({
      error: { code: 'INTERNAL', message: 'internal error (see the server log)', details: {} },
    });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `no route ${request.method} ${request.url}`,
        details: {},
      },
    }),
  );
}
