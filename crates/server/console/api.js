// The v1 API as the console calls it: every call carries the bearer token kept for this
// browser session only (sessionStorage), and every error answer is thrown as an ApiError.

const TOKEN = "gongji.token";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? "http";
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN);
}

export function forget() {
  sessionStorage.removeItem(TOKEN);
}

async function request(method, path, bearer = token()) {
  const headers = bearer ? { Authorization: `Bearer ${bearer}` } : {};
  const response = await fetch(path, { method, headers, cache: "no-store" });
  const text = await response.text();
  let body = text;
  try { body = JSON.parse(text); } catch { /* /metrics is text */ }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export const get = (path) => request("GET", path);
export const post = (path) => request("POST", path);

// Signs in: the token is kept only if the service knows it.
export async function signIn(bearer) {
  const session = await request("GET", "/v1/session", bearer);
  sessionStorage.setItem(TOKEN, bearer);
  return session;
}

export const session = () => request("GET", "/v1/session");

// A path segment or query value, encoded.
export const q = encodeURIComponent;
