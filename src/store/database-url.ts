// Which database a configured URL names: PostgreSQL for postgres:// and postgresql://, otherwise a SQLite
// file path. Kept apart from db.ts so that the configuration can tell without loading the drivers.
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}
