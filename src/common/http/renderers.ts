import { STATUS_TITLES, type ErrorRenderer } from '../errors.js';

/** Keystone, and keystonemiddleware's 401 for every service: {"error": {code, title, message}}. */
export const renderKeystoneError: ErrorRenderer = (status, message) => ({
  body: { error: { code: status, title: STATUS_TITLES[status] ?? 'Error', message } },
});

/** Nova's fault names by status (nova/api/openstack/wsgi.py Fault._fault_names). */
const NOVA_FAULT_NAMES: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  406: 'HTTPNotAcceptable',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

/** Nova and Cinder: {"itemNotFound": {"code": 404, "message": ...}}; quota errors are overLimit whatever the status. */
export const renderNovaFault: ErrorRenderer = (status, message, error) => {
  const name = error?.name === 'OverQuota' ? 'overLimit' : (NOVA_FAULT_NAMES[status] ?? 'computeFault');
  return { body: { [name]: { code: status, message } } };
};

/** Neutron: {"NeutronError": {"type", "message", "detail"}}. */
export const renderNeutronError: ErrorRenderer = (status, message, error) => ({
  body: {
    NeutronError: { type: error?.type ?? defaultNeutronType(status), message, detail: '' },
  },
});

function defaultNeutronType(status: number): string {
  return (
    {
      400: 'HTTPBadRequest',
      403: 'HTTPForbidden',
      404: 'HTTPNotFound',
      409: 'HTTPConflict',
      413: 'HTTPRequestEntityTooLarge',
    }[status] ?? 'HTTPInternalServerError'
  );
}

/** Glance (webob): a plain-text page "404 Not Found\n\nmessage\n\n   ". */
export const renderGlanceError: ErrorRenderer = (status, message) => ({
  body: `${status} ${STATUS_TITLES[status] ?? 'Error'}\n\n${message}\n\n   `,
  contentType: 'text/plain; charset=UTF-8',
});
