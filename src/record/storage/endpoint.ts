// Which host a CloudStorage request goes to. TRTC names only a Vendor (0 = Tencent COS, 1 = AWS) and a Region; the
// operator maps each Vendor to an endpoint template in `recording.storageEndpoints`, so the same request can be
// pointed at MinIO, Ceph or any other S3-compatible store instead. Templates take `{Region}` and `{Bucket}`.
//
// Addressing: without `{Bucket}` the bucket goes in the path (path-style), which every S3-compatible store accepts
// and which needs no wildcard DNS. A template that starts its host with `{Bucket}.` asks for virtual-hosted style
// (the bucket as the first host label), which AWS and COS prefer; the SDK then puts the bucket there itself.

export const DEFAULT_STORAGE_ENDPOINTS: Readonly<Record<string, string>> = {
  '0': 'https://cos.{Region}.myqcloud.com',
  '1': 'https://s3.{Region}.amazonaws.com',
};

export interface ResolvedEndpoint {
  /** What the S3 client is given as `endpoint`: scheme, host and port, the bucket left out. */
  endpoint: string;
  /** true: https://host/bucket/key; false: https://bucket.host/key. */
  forcePathStyle: boolean;
}

// Region and bucket land in a URL, so they are held to characters that cannot change which host is meant.
const REGION = /^[A-Za-z0-9_-]{1,64}$/;
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const VHOST = /^(https?:\/\/)\{Bucket\}\./;

/**
 * The endpoint for a CloudStorage request. `templates` are the configured ones (defaults where a Vendor is not
 * configured). Throws an Error whose message names the field to fix.
 */
export function resolveEndpoint(
  vendor: number,
  region: string,
  bucket: string,
  templates: Readonly<Record<string, string>> = {},
): ResolvedEndpoint {
  const all = { ...DEFAULT_STORAGE_ENDPOINTS, ...templates };
  const template = all[String(vendor)];
  if (template === undefined) {
    throw new Error(
      `CloudStorage.Vendor ${vendor} has no storage endpoint: use ${Object.keys(all).join(' or ')} ` +
        `(recording.storageEndpoints maps each Vendor number to an endpoint)`,
    );
  }
  if (!REGION.test(region)) {
    throw new Error(`CloudStorage.Region '${region}' is not a region name (letters, digits, '-', '_')`);
  }
  if (!BUCKET.test(bucket)) {
    throw new Error(`CloudStorage.Bucket '${bucket}' is not a bucket name (letters, digits, '.', '-', '_'; up to 255)`);
  }
  const vhost = VHOST.test(template);
  const filled = (vhost ? template.replace(VHOST, '$1') : template).replaceAll('{Region}', region);
  if (filled.includes('{Bucket}')) {
    throw new Error(
      `storage endpoint template for Vendor ${vendor} ('${template}') may use {Bucket} only as the first host label ` +
        `(https://{Bucket}.host…); without it the bucket goes in the path`,
    );
  }
  let url: URL;
  try {
    url = new URL(filled);
  } catch {
    throw new Error(`storage endpoint template for Vendor ${vendor} ('${template}') is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`storage endpoint template for Vendor ${vendor} ('${template}') must be an http(s):// URL`);
  }
  return { endpoint: filled.replace(/\/+$/, ''), forcePathStyle: !vhost };
}
