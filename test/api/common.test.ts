import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApi, type TestApi } from '../support/api.js';
import { testBackends } from '../support/databases.js';

for (const backend of testBackends()) {
  describe(`common API machinery [${backend}]`, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(backend);
    });
    after(() => api.close());

    it('GET /healthcheck answers OK', async () => {
      const res = await api.http.get('/healthcheck');
      assert.equal(res.status, 200);
      assert.equal(res.text, 'OK');
    });

    it('every response has a distinct x-openstack-request-id; compute adds x-compute-request-id', async () => {
      const a = await api.http.get('/identity/v3');
      const b = await api.http.get('/identity/v3');
      assert.match(a.headers['x-openstack-request-id'], /^req-[0-9a-f-]{36}$/);
      assert.notEqual(a.headers['x-openstack-request-id'], b.headers['x-openstack-request-id']);
      const c = await api.http.get('/compute/v2.1');
      assert.equal(c.headers['x-compute-request-id'], c.headers['x-openstack-request-id']);
      assert.equal(a.headers['x-compute-request-id'], undefined);
    });

    it('GET /metrics exposes per-route counts and latency histograms', async () => {
      await api.http.get('/identity/v3');
      const res = await api.http.get('/metrics');
      assert.equal(res.status, 200);
      assert.match(
        res.text,
        /kvmstack_http_requests_total\{service="identity",method="GET",route="\/identity\/v3",status="200"\} \d+/,
      );
      assert.match(res.text, /kvmstack_http_request_duration_seconds_bucket\{le="0.005",service="identity"/);
    });

    it('identity version documents: 300 at the root with values[], 200 at /v3', async () => {
      const root = await api.http.get('/identity');
      assert.equal(root.status, 300);
      const v = root.body.versions.values[0];
      assert.equal(v.id, 'v3.14');
      assert.equal(v.status, 'stable');
      assert.equal(v.links[0].href, `${api.url}/identity/v3/`);
      assert.equal(v['media-types'][0].type, 'application/vnd.openstack.identity-v3+json');
      const v3 = await api.http.get('/identity/v3');
      assert.equal(v3.status, 200);
      assert.deepEqual(v3.body.version, v);
      const bare = await api.http.get('/');
      assert.equal(bare.status, 300);
    });

    it('compute version documents show min and max microversion, and at most 2.13 to python-novaclient', async () => {
      const doc = await api.http.get('/compute/v2.1');
      assert.equal(doc.status, 200);
      assert.equal(doc.body.version.id, 'v2.1');
      assert.equal(doc.body.version.version, '2.79');
      assert.equal(doc.body.version.min_version, '2.1');
      assert.equal(doc.body.version.links[0].href, `${api.url}/compute/v2.1/`);
      const nova = await api.http.get('/compute/v2.1/').set('User-Agent', 'python-novaclient');
      assert.equal(nova.body.version.version, '2.13');
      const root = await api.http.get('/compute/');
      assert.deepEqual(
        root.body.versions.map((v: { id: string }) => v.id),
        ['v2.0', 'v2.1'],
      );
    });

    it('compute and volume negotiate microversions: echo with Vary, latest, 406 in the service body', async () => {
      const none = await api.http.get('/compute/v2.1');
      assert.equal(none.headers['openstack-api-version'], 'compute 2.1');
      assert.equal(none.headers['x-openstack-nova-api-version'], '2.1');
      assert.equal(none.headers.vary, 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
      const v253 = await api.http.get('/compute/v2.1').set('OpenStack-API-Version', 'compute 2.53');
      assert.equal(v253.headers['x-openstack-nova-api-version'], '2.53');
      const latest = await api.http.get('/compute/v2.1').set('X-OpenStack-Nova-API-Version', 'latest');
      assert.equal(latest.headers['openstack-api-version'], 'compute 2.79');
      const tooHigh = await api.http.get('/compute/v2.1').set('X-OpenStack-Nova-API-Version', '2.200');
      assert.equal(tooHigh.status, 406);
      assert.equal(
        tooHigh.body.HTTPNotAcceptable.message,
        'Version 2.200 is not supported by the API. Minimum is 2.1 and maximum is 2.79.',
      );
      const malformed = await api.http.get('/compute/v2.1').set('X-OpenStack-Nova-API-Version', 'two');
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.badRequest.code, 400);
      const vol = await api.http.get('/volume/v3/').set('OpenStack-API-Version', 'volume 3.27');
      assert.equal(vol.headers['openstack-api-version'], 'volume 3.27');
      const volBad = await api.http.get('/volume/v3/').set('OpenStack-API-Version', 'volume 4.0');
      assert.equal(volBad.status, 406);
    });

    it('image, volume and network version documents', async () => {
      const image = await api.http.get('/image');
      assert.equal(image.status, 300);
      assert.equal(image.body.versions[0].id, 'v2.9');
      assert.equal(image.body.versions[0].status, 'CURRENT');
      assert.equal(image.body.versions[0].links[0].href, `${api.url}/image/v2/`);
      const volume = await api.http.get('/volume/');
      assert.equal(volume.body.versions[0].id, 'v3.0');
      assert.equal(volume.body.versions[0].min_version, '3.0');
      const network = await api.http.get('/networking');
      assert.equal(network.body.versions[0].id, 'v2.0');
    });

    it("an unknown path is 404 in the owning service's body", async () => {
      const ks = await api.http.get('/identity/v3/nothing-here');
      assert.equal(ks.status, 404);
      assert.equal(ks.body.error.code, 404);
      const nova = await api.http.get('/compute/v2.1/nothing-here');
      assert.equal(nova.status, 404);
      assert.equal(nova.body.itemNotFound.code, 404);
      const neutron = await api.http.get('/networking/v2.0/nothing-here');
      assert.equal(neutron.body.NeutronError.type, 'HTTPNotFound');
      const glance = await api.http.get('/image/v2/nothing-here');
      assert.match(glance.text, /^404 Not Found/);
      assert.match(glance.headers['content-type'], /^text\/plain/);
    });

    it('a wrong method is 405; a non-JSON body is 415', async () => {
      const token = await api.adminToken();
      const res = await api.http.put('/identity/v3/projects').set('X-Auth-Token', token).send({});
      assert.equal(res.status, 405);
      assert.equal(res.body.error.code, 405);
      const xml = await api.http
        .post('/identity/v3/projects')
        .set('X-Auth-Token', token)
        .set('Content-Type', 'application/xml')
        .send('<project/>');
      assert.equal(xml.status, 415);
    });
  });
}
