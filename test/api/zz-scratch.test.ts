import { it, expect } from 'vitest';
import { startStack } from '/work/main/test/support/stack.js';
it('mp', async () => {
  const stack = await startStack({ roles: ['api'] });
  const bad = await stack.api('POST', '/unsubscribe/abc.def', '--B\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--B--\r\n', { token: null, headers: { 'content-type': 'multipart/form-data; boundary=B' } });
  console.log(bad.statusCode, bad.body);
  const none = await stack.api('POST', '/unsubscribe/abc.def', undefined, { token: null });
  console.log(none.statusCode, none.body);
  await stack.stop();
});
