import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'demo-api',
    include: ['src/**/*.test.ts'],
  },
});
