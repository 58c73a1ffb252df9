// The photos API (docs/api.md) with the signed-in user's ID token, and every failure turned
// into a message a person can act on.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const MESSAGES = {
  0: 'Cannot reach the server. Check your connection and try again.',
  401: 'Your session has ended. Please sign in again.',
  403: 'You are not allowed to do that.',
  404: 'That photo no longer exists. It may have been deleted.',
  413: 'That file is too large to upload.',
  429: 'Too many requests right now. Wait a moment and try again.',
  500: 'Something went wrong on the server. Try again in a minute.',
};

export function messageFor(status, detail) {
  if (status === 429 && detail && /quota/i.test(detail)) return `Today's upload quota is used up: ${detail}`;
  if (status === 413 && detail) return `That file is too large to upload (${detail}).`;
  return MESSAGES[status] || MESSAGES[Math.floor(status / 100) * 100] || detail || `Error ${status}`;
}

export function createApi(baseUrl, token) {
  async function call(method, path, { query } = {}) {
    const url = new URL(`${baseUrl}${path}`, location.origin);
    for (const [name, value] of Object.entries(query || {})) if (value != null) url.searchParams.set(name, value);
    const headers = {};
    const idToken = await token();
    if (idToken) headers.Authorization = idToken;
    let response;
    try {
      response = await fetch(url, { method, headers });
    } catch {
      throw new ApiError(0, MESSAGES[0]);
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) throw new ApiError(response.status, messageFor(response.status, body?.message || body?.error));
    return body;
  }

  return {
    photos: (query) => call('GET', '/photos', { query }),
    photo: (id) => call('GET', `/photos/${encodeURIComponent(id)}`),
    deletePhoto: (id) => call('DELETE', `/photos/${encodeURIComponent(id)}`),
    upload: (id) => call('GET', `/uploads/${encodeURIComponent(id)}`),
    presign: (filename) => call('POST', '/upload', { query: { presign: 'true', filename } }),
    deleteMe: () => call('DELETE', '/me'),
  };
}

/** POSTs a file to S3 with a presigned POST, reporting progress (0..1); resolves when stored. */
export function postToS3(presigned, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(presigned.fields)) form.append(name, value);
    form.append('file', file);
    const request = new XMLHttpRequest();
    request.open('POST', presigned.url);
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) return resolve();
      const code = /<Code>([^<]+)<\/Code>/.exec(request.responseText || '')?.[1];
      if (code === 'EntityTooLarge') return reject(new ApiError(413, messageFor(413)));
      if (code === 'AccessDenied' && /expired/i.test(request.responseText)) {
        return reject(new ApiError(403, 'The upload link expired. Try again.'));
      }
      reject(new ApiError(request.status, `The upload was refused (${code || request.status}).`));
    };
    request.onerror = () => reject(new ApiError(0, MESSAGES[0]));
    request.send(form);
  });
}
