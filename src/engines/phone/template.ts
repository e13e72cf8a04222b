// Request templates of HTTP JSON providers. `{field}` takes a value of the search (URL-encoded in URLs,
// raw in headers and JSON bodies); `${NAME}` takes an environment variable, so API keys live in the
// environment and never in the providers file.

export const TEMPLATE_FIELDS = ['linkedin_url', 'first_name', 'last_name', 'company_domain', 'company_name'] as const;
export type TemplateField = (typeof TEMPLATE_FIELDS)[number];
export type TemplateValues = Partial<Record<TemplateField, string>>;
export type Env = Record<string, string | undefined>;

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** A search lacks a value the provider's template needs: the provider cannot be asked this question. */
export class MissingTemplateValueError extends Error {
  constructor(readonly field: string) {
    super(`search has no ${field}`);
  }
}

export function isTemplateField(name: string): name is TemplateField {
  return (TEMPLATE_FIELDS as readonly string[]).includes(name);
}

/** The search fields and environment variables a template string refers to. */
export function placeholdersOf(template: string): { fields: string[]; envVars: string[] } {
  const fields: string[] = [];
  const envVars: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m[1] !== undefined) envVars.push(m[1]);
    else fields.push(m[2]);
  }
  return { fields, envVars };
}

/** Every string inside a JSON body template (keys are taken literally). */
export function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringsOf);
  return [];
}

export function renderString(template: string, values: TemplateValues, env: Env, encode: (s: string) => string = (s) => s): string {
  return template.replace(PLACEHOLDER, (_all, envName: string | undefined, field: string | undefined) => {
    if (envName !== undefined) {
      const v = env[envName];
      // loadPhoneProviders refuses configs with unset variables; this guards hand-built configs
      if (v === undefined) throw new Error(`environment variable ${envName} is not set`);
      return encode(v);
    }
    const v = values[field as TemplateField];
    if (v === undefined || v.trim() === '') throw new MissingTemplateValueError(field!);
    return encode(v);
  });
}

export function renderUrl(template: string, values: TemplateValues, env: Env): string {
  return renderString(template, values, env, encodeURIComponent);
}

export function renderBody(template: unknown, values: TemplateValues, env: Env): unknown {
  if (typeof template === 'string') return renderString(template, values, env);
  if (Array.isArray(template)) return template.map((t) => renderBody(t, values, env));
  if (template !== null && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, renderBody(v, values, env)]));
  }
  return template;
}
